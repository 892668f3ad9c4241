// Pupils: find one by name or class; their record — guardians, who else may collect and for how
// long, who must never collect (in red, lifted only with a reason), going-home-alone statements,
// and where their enrolment stands. Every change is a command the API records as the admin's.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Pupil, type School } from "../api/client";
import { t } from "../i18n";
import { done, Field, key, Note, type Outcome, refused, value } from "./forms";
import { PupilPhoto } from "./photo";

type Summary = { pupil_id: string; name: string; class_label: string; enrolment_status: string };
type Values = Record<string, string>;

/** The fields' texts of a form, blanks left out (the API takes a missing field as none). */
function filled(v: Values): Values {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x.trim()]).filter(([, x]) => x !== ""));
}

function useForm(initial: Values) {
  const [values, setValues] = useState<Values>(initial);
  const bind = (name: string) => ({
    value: values[name] ?? "",
    name,
    "data-testid": `f-${name}`,
    onInput: (e: Event) => setValues({ ...values, [name]: value(e) }),
  });
  return { values, bind, reset: () => setValues(initial) };
}

const PAGE = 100; // pupils fetched at a time: a school of thousands loads as the admin asks for more

/** The pupils shown so far and the next page, each pupil once: pages are by offset, so a pupil
 * registered (or removed) between two pages shifts the next page, which then repeats a pupil
 * already shown; the first showing stays. */
function withPage(before: Summary[], page: Summary[]): Summary[] {
  const shown = new Set(before.map((p) => p.pupil_id));
  return [...before, ...page.filter((p) => !shown.has(p.pupil_id) && shown.add(p.pupil_id))];
}

export function Pupils({ school }: { school: School }) {
  const [q, setQ] = useState("");
  const [classId, setClassId] = useState("");
  const [found, setFound] = useState<Summary[] | null>(null);
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<number | null>(null);
  const [loading, setLoading] = useState(false);
  const [chosen, setChosen] = useState<string | null>(null);
  const asked = useRef(0); // the query a page answers: a page for an older query is dropped

  async function load(offset: number) {
    const mine = offset === 0 ? ++asked.current : asked.current;
    const query = { ...(q.trim() ? { q: q.trim() } : {}), ...(classId ? { class_id: classId } : {}),
                    limit: PAGE, offset };
    setLoading(true);
    try {
      const { data } = await api.GET("/v1/pupils", { params: { query } });
      if (mine !== asked.current || !data) return;
      setFound((before) => (offset === 0 || !before ? withPage([], data.pupils) : withPage(before, data.pupils)));
      setTotal(data.total);
      setNext(data.next_offset ?? null);
    } finally {
      if (mine === asked.current) setLoading(false);
    }
  }

  useEffect(() => {
    void load(0);
  }, [q, classId]);

  if (chosen) return <PupilRecord pupilId={chosen} onBack={() => setChosen(null)} />;
  return (
    <section aria-label={t("admin.tab.pupils")} data-testid="admin-pupils">
      <RegisterForm school={school} onRegistered={setChosen} />
      <div class="pupil-search">
        <label class="field"><span>{t("admin.pupils.search")}</span>
          <input type="search" value={q} data-testid="pupil-search" placeholder={t("admin.pupils.search.example")}
            onInput={(e) => setQ(value(e))} />
        </label>
        <label class="field"><span>{t("admin.pupils.class")}</span>
          <select value={classId} data-testid="pupil-class" onChange={(e) => setClassId(value(e))}>
            <option value="">{t("admin.pupils.all_classes")}</option>
            {school.classes.map((c) => <option key={c.class_id} value={c.class_id}>{c.label}</option>)}
          </select>
        </label>
      </div>
      {found && <h2 data-testid="pupil-count">{t("admin.pupils.count", { n: total })}</h2>}
      <ul class="rows">
        {(found ?? []).map((p) => (
          <li key={p.pupil_id}>
            <button type="button" class="row pupil-row" data-testid="pupil-row" onClick={() => setChosen(p.pupil_id)}>
              <span class="who">{p.name}</span>
              <span>{p.class_label}</span>
              <span class="hint">{t(`admin.enrolment.${p.enrolment_status}` as "admin.enrolment.none")}</span>
            </button>
          </li>
        ))}
      </ul>
      {found && next !== null && (
        <button type="button" class="ghost" data-testid="pupil-more" disabled={loading}
          onClick={() => void load(next)}>
          {t("admin.pupils.more", { n: Math.max(0, total - found.length) })}
        </button>
      )}
    </section>
  );
}

/** A pupil arriving in the term (a transfer): name, gender, class and a first guardian; their
 * record opens once registered (enrolment and the rest are done there and by class). */
function RegisterForm({ school, onRegistered }: { school: School; onRegistered: (pupilId: string) => void }) {
  const form = useForm({ name: "", gender: "女", class_id: school.classes[0]?.class_id ?? "", guardian: "",
                         relation: "", phone: "" });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [open, setOpen] = useState(false);
  async function register(e: Event) {
    e.preventDefault();
    const v = { name: "", gender: "女", class_id: "", guardian: "", relation: "", phone: "", ...form.values };
    const guardians = v.guardian.trim()
      ? [{ name: v.guardian.trim(), relation: v.relation.trim() || "监护人", phone: v.phone.trim(), may_collect: true }] : [];
    const { data, error } = await api.POST("/v1/pupils", {
      params: { header: key() }, body: { name: v.name.trim(), gender: v.gender as "男" | "女", class_id: v.class_id, guardians } });
    if (!data) return setOutcome(refused(error));
    form.reset();
    onRegistered(data.pupil_id);
  }
  if (!open) {
    return <button type="button" class="ghost" data-testid="pupil-register-open" onClick={() => setOpen(true)}>{t("admin.pupils.register")}</button>;
  }
  return (
    <form class="panel pupil-register" data-testid="pupil-register" onSubmit={(e) => void register(e)}>
      <h3>{t("admin.pupils.register")}</h3>
      <Field label={t("admin.pupils.name")} name="name" outcome={outcome}><input maxLength={40} {...form.bind("name")} /></Field>
      <Field label={t("admin.pupils.gender")} name="gender" outcome={outcome}>
        <select {...form.bind("gender")} onChange={(e) => form.bind("gender").onInput(e)}>
          <option value="女">{t("admin.pupils.gender.f")}</option><option value="男">{t("admin.pupils.gender.m")}</option>
        </select>
      </Field>
      <Field label={t("admin.pupils.class")} name="class_id" outcome={outcome}>
        <select {...form.bind("class_id")} onChange={(e) => form.bind("class_id").onInput(e)}>
          {school.classes.map((c) => <option key={c.class_id} value={c.class_id}>{c.label}</option>)}
        </select>
      </Field>
      <Field label={t("admin.pupils.guardian")} name="guardian" outcome={outcome}><input maxLength={40} {...form.bind("guardian")} /></Field>
      <Field label={t("admin.pupils.relation")} name="relation" outcome={outcome}><input maxLength={20} {...form.bind("relation")} /></Field>
      <Field label={t("admin.pupils.phone")} name="phone" outcome={outcome}><input inputmode="tel" maxLength={32} {...form.bind("phone")} /></Field>
      <button type="submit" class="primary" disabled={!(form.values.name ?? "").trim() || !form.values.class_id} data-testid="pupil-register-submit">
        {t("admin.pupils.register_submit")}</button>
      <Note outcome={outcome} />
    </form>
  );
}

const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7] as const;

function span(from: string | null | undefined, to: string | null | undefined): string {
  if (!from && !to) return t("admin.valid.always");
  return t("admin.valid.span", { from: from ?? "…", to: to ?? t("admin.valid.open") });
}

function PupilRecord({ pupilId, onBack }: { pupilId: string; onBack: () => void }) {
  const [pupil, setPupil] = useState<Pupil | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const path = { pupil_id: pupilId };

  useEffect(() => {
    void api.GET("/v1/pupils/{pupil_id}", { params: { path } }).then(({ data, error }) => {
      if (data) setPupil(data);
      else setOutcome(refused(error));
    });
  }, [pupilId]);

  /** Run a command; the pupil as it answered is shown at once. */
  async function run(call: Promise<{ data?: Pupil; error?: unknown }>, text: string): Promise<boolean> {
    const { data, error } = await call;
    if (!data) {
      setOutcome(refused(error));
      return false;
    }
    setPupil(data);
    setOutcome(done(text));
    return true;
  }
  const opts = () => ({ params: { path, header: key() } });

  if (!pupil) return <section data-testid="pupil-record"><Note outcome={outcome} /></section>;
  const guardians = pupil.guardians ?? [];
  const guardianName = (id: string | null | undefined) => guardians.find((g) => g.guardian_id === id)?.name ?? "";
  const e = pupil.enrolment;
  return (
    <section aria-label={pupil.name} data-testid="pupil-record" class="pupil-record">
      <div class="record-head">
        <PupilPhoto pupil={pupil} onChanged={setPupil} />
        <button type="button" class="ghost" data-testid="pupil-back" onClick={onBack}>{t("admin.pupils.back")}</button>
        <h2>{pupil.name}</h2>
        <span>{pupil.class_label ?? ""}</span>
        <span class="enrolment" data-testid="pupil-enrolment">
          {t(`admin.enrolment.${e.status}` as "admin.enrolment.none")}
          {e.term ? ` · ${e.term}` : ""}{e.starts ? ` · ${span(e.starts, e.ends)}` : ""}
          {e.agreement?.reference ? ` · ${t("admin.enrolment.agreement", { ref: e.agreement.reference })}` : ""}
        </span>
      </div>
      <Note outcome={outcome} />

      <h3 class="danger-title">{t("admin.restrictions")}</h3>
      <ul class="rows">
        {(pupil.restrictions ?? []).map((r) => (
          <li key={r.restriction_id} class={r.lifted ? "row lifted" : "row restricted"} data-testid="pupil-restriction">
            <div>
              <p class="who">{t("admin.restriction.who", { name: r.name, relation: r.relation ?? t("admin.restriction.no_relation") })}</p>
              <p>{r.id_tail ? t("admin.id_tail.shown", { tail: r.id_tail }) : ""} {r.document ? t("admin.document.shown", { doc: r.document }) : ""}</p>
              <p>{r.reason ?? ""} · {span(r.valid_from, r.valid_to)}</p>
            </div>
            <span>{r.lifted ? t("admin.restriction.lifted") : t("admin.restriction.in_force")}</span>
            {!r.lifted && (
              <WithReason label={t("admin.restriction.lift")} testid="restriction-lift"
                onReason={(reason) => run(api.POST("/v1/pupils/{pupil_id}/restrictions/{restriction_id}/lift", {
                  params: { path: { ...path, restriction_id: r.restriction_id }, header: key() }, body: { reason },
                }), t("admin.restriction.lifted_note", { name: r.name }))} />
            )}
          </li>
        ))}
      </ul>
      <RestrictionForm onSubmit={(body) => run(api.POST("/v1/pupils/{pupil_id}/restrictions", { ...opts(), body }),
        t("admin.restriction.added", { name: body.name ?? "" }))} outcome={outcome} />

      <h3>{t("admin.guardians")}</h3>
      <ul class="rows">
        {guardians.map((g) => (
          <li key={g.guardian_id} class="row" data-testid="pupil-guardian">
            <span class="who">{g.name}（{g.relation}）</span>
            <span>{g.phone ?? ""}</span>
            <span>{g.may_collect ? t("admin.guardian.may_collect") : t("admin.guardian.may_not_collect")}</span>
          </li>
        ))}
      </ul>
      <GuardianForm onSubmit={(body) => run(api.POST("/v1/pupils/{pupil_id}/guardians", { ...opts(), body }),
        t("admin.guardian.added", { name: body.name }))} outcome={outcome} />

      <h3>{t("admin.authorisations")}</h3>
      <ul class="rows">
        {(pupil.authorisations ?? []).map((a) => (
          <li key={a.authorisation_id} class={a.revoked ? "row lifted" : "row"} data-testid="pupil-authorisation">
            <div>
              <p class="who">{a.name}{a.relation ? `（${a.relation}）` : ""}</p>
              <p class="hint">{a.one_day ? t("admin.authorisation.one_day", { day: a.valid_from ?? "" }) : span(a.valid_from, a.valid_to)}
                {a.document ? ` · ${t("admin.document.shown", { doc: a.document })}` : ""}</p>
            </div>
            <span>{a.revoked ? t("admin.authorisation.revoked") : t("admin.authorisation.active")}</span>
            {!a.revoked && (
              <WithReason label={t("admin.authorisation.revoke")} testid="authorisation-revoke"
                onReason={(reason) => run(api.POST("/v1/pupils/{pupil_id}/authorisations/{authorisation_id}/revoke", {
                  params: { path: { ...path, authorisation_id: a.authorisation_id }, header: key() }, body: { reason },
                }), t("admin.authorisation.revoked_note", { name: a.name }))} />
            )}
          </li>
        ))}
      </ul>
      <AuthorisationForm guardians={guardians} onSubmit={(body) => run(api.POST("/v1/pupils/{pupil_id}/authorisations", { ...opts(), body }),
        t("admin.authorisation.added", { name: body.name }))} outcome={outcome} />

      <h3>{t("admin.statements")}</h3>
      <ul class="rows">
        {(pupil.statements ?? []).map((s) => (
          <li key={s.statement_id} class={s.withdrawn ? "row lifted" : "row"} data-testid="pupil-statement">
            <div>
              <p class="who">{s.weekdays.map((d) => t(`admin.weekday.${d}` as "admin.weekday.1")).join("、")}</p>
              <p class="hint">{span(s.valid_from, s.valid_to)} · {t("admin.statement.by", { name: guardianName(s.given_by_guardian_id) })}
                {s.document ? ` · ${t("admin.document.shown", { doc: s.document })}` : ""}</p>
            </div>
            <span>{s.withdrawn ? t("admin.statement.withdrawn") : t("admin.statement.in_force")}</span>
            {!s.withdrawn && (
              <button type="button" class="danger" data-testid="statement-withdraw"
                onClick={() => void run(api.POST("/v1/pupils/{pupil_id}/statements/{statement_id}/withdraw", {
                  params: { path: { ...path, statement_id: s.statement_id }, header: key() },
                }), t("admin.statement.withdrawn_note"))}>{t("admin.statement.withdraw")}</button>
            )}
          </li>
        ))}
      </ul>
      {guardians.length > 0 && (
        <StatementForm guardians={guardians} outcome={outcome}
          onSubmit={(body) => run(api.POST("/v1/pupils/{pupil_id}/statements", { ...opts(), body }), t("admin.statement.filed"))} />
      )}
    </section>
  );
}

/** A button that asks for the reason first, then does it. */
function WithReason({ label, testid, onReason }: { label: string; testid: string; onReason: (reason: string) => Promise<boolean> }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  if (!open) return <button type="button" class="danger" data-testid={testid} onClick={() => setOpen(true)}>{label}</button>;
  return (
    <form class="reason-form" onSubmit={(e) => {
      e.preventDefault();
      void onReason(reason.trim()).then((ok) => { if (ok) setOpen(false); });
    }}>
      <label class="field"><span>{t("admin.reason")}</span>
        <input value={reason} data-testid={`${testid}-reason`} onInput={(e) => setReason(value(e))} />
      </label>
      <button type="submit" class="danger" disabled={!reason.trim()} data-testid={`${testid}-confirm`}>{label}</button>
      <button type="button" class="ghost" onClick={() => setOpen(false)}>{t("admin.cancel")}</button>
    </form>
  );
}

type Submit<B> = { onSubmit: (body: B) => Promise<boolean>; outcome: Outcome | null };

function Dates({ bind, outcome }: { bind: ReturnType<typeof useForm>["bind"]; outcome: Outcome | null }) {
  return (
    <>
      <Field label={t("admin.valid_from")} name="valid_from" outcome={outcome}><input type="date" {...bind("valid_from")} /></Field>
      <Field label={t("admin.valid_to")} name="valid_to" outcome={outcome}><input type="date" {...bind("valid_to")} /></Field>
    </>
  );
}

function RestrictionForm({ onSubmit, outcome }: Submit<{ name: string; reason: string; relation?: string; id_tail?: string; document?: string; valid_from?: string; valid_to?: string }>) {
  const f = useForm({ name: "", relation: "", id_tail: "", document: "", reason: "", valid_from: "", valid_to: "" });
  return (
    <form class="admin-form restriction-form" data-testid="restriction-form" onSubmit={(e) => {
      e.preventDefault();
      const v = filled(f.values);
      void onSubmit({ ...v, name: v.name ?? "", reason: v.reason ?? "" }).then((ok) => ok && f.reset());
    }}>
      <h4>{t("admin.restriction.new")}</h4>
      <Field label={t("admin.name")} name="name" outcome={outcome}><input {...f.bind("name")} /></Field>
      <Field label={t("admin.relation")} name="relation" outcome={outcome}><input {...f.bind("relation")} placeholder={t("admin.relation.example")} /></Field>
      <Field label={t("admin.id_tail")} name="id_tail" outcome={outcome}><input {...f.bind("id_tail")} maxLength={4} /></Field>
      <Field label={t("admin.document")} name="document" outcome={outcome}><input {...f.bind("document")} placeholder={t("admin.document.example")} /></Field>
      <Field label={t("admin.restriction.reason")} name="reason" outcome={outcome}><input {...f.bind("reason")} /></Field>
      <Dates bind={f.bind} outcome={outcome} />
      <button type="submit" class="danger" data-testid="restriction-add">{t("admin.restriction.add")}</button>
    </form>
  );
}

function GuardianForm({ onSubmit, outcome }: Submit<{ name: string; phone: string; relation: string; id_tail?: string; may_collect: boolean }>) {
  const f = useForm({ name: "", relation: "", phone: "", id_tail: "" });
  const [mayCollect, setMayCollect] = useState(true);
  return (
    <form class="admin-form" data-testid="guardian-form" onSubmit={(e) => {
      e.preventDefault();
      const v = filled(f.values);
      void onSubmit({ ...v, name: v.name ?? "", phone: v.phone ?? "", relation: v.relation ?? "", may_collect: mayCollect }).then((ok) => ok && f.reset());
    }}>
      <h4>{t("admin.guardian.new")}</h4>
      <Field label={t("admin.name")} name="name" outcome={outcome}><input {...f.bind("name")} /></Field>
      <Field label={t("admin.relation")} name="relation" outcome={outcome}><input {...f.bind("relation")} placeholder={t("admin.guardian.relation.example")} /></Field>
      <Field label={t("admin.phone")} name="phone" outcome={outcome}><input type="tel" {...f.bind("phone")} /></Field>
      <Field label={t("admin.id_tail")} name="id_tail" outcome={outcome}><input {...f.bind("id_tail")} maxLength={4} /></Field>
      <label class="check"><input type="checkbox" checked={mayCollect} onChange={(e) => setMayCollect((e.target as HTMLInputElement).checked)} />{t("admin.guardian.may_collect")}</label>
      <button type="submit" class="primary" data-testid="guardian-add">{t("admin.guardian.add")}</button>
    </form>
  );
}

type Guardians = NonNullable<Pupil["guardians"]>;

function AuthorisationForm({ guardians, onSubmit, outcome }: Submit<{ name: string; relation?: string; phone?: string; id_tail?: string; document?: string; valid_from?: string; valid_to?: string; given_by_guardian_id?: string; via: "in_person" | "written" }> & { guardians: Guardians }) {
  const f = useForm({ name: "", relation: "", phone: "", id_tail: "", document: "", valid_from: "", valid_to: "", given_by_guardian_id: "" });
  return (
    <form class="admin-form" data-testid="authorisation-form" onSubmit={(e) => {
      e.preventDefault();
      const v = filled(f.values);
      void onSubmit({ ...v, name: v.name ?? "", via: v.document ? "written" : "in_person" }).then((ok) => ok && f.reset());
    }}>
      <h4>{t("admin.authorisation.new")}</h4>
      <Field label={t("admin.name")} name="name" outcome={outcome}><input {...f.bind("name")} /></Field>
      <Field label={t("admin.relation")} name="relation" outcome={outcome}><input {...f.bind("relation")} placeholder={t("admin.authorisation.relation.example")} /></Field>
      <Field label={t("admin.phone")} name="phone" outcome={outcome}><input type="tel" {...f.bind("phone")} /></Field>
      <Field label={t("admin.id_tail")} name="id_tail" outcome={outcome}><input {...f.bind("id_tail")} maxLength={4} /></Field>
      <Field label={t("admin.authorisation.given_by")} name="given_by_guardian_id" outcome={outcome}>
        <select {...f.bind("given_by_guardian_id")} onChange={f.bind("given_by_guardian_id").onInput}>
          <option value="">{t("admin.authorisation.given_by.none")}</option>
          {guardians.map((g) => <option key={g.guardian_id} value={g.guardian_id}>{g.name}</option>)}
        </select>
      </Field>
      <Field label={t("admin.document")} name="document" outcome={outcome}><input {...f.bind("document")} /></Field>
      <Dates bind={f.bind} outcome={outcome} />
      <button type="submit" class="primary" data-testid="authorisation-add">{t("admin.authorisation.add")}</button>
    </form>
  );
}

function StatementForm({ guardians, onSubmit, outcome }: Submit<{ valid_from: string; valid_to?: string; weekdays: number[]; document?: string; given_by_guardian_id: string }> & { guardians: Guardians }) {
  const f = useForm({ valid_from: "", valid_to: "", document: "", given_by_guardian_id: guardians[0]?.guardian_id ?? "" });
  const [days, setDays] = useState<number[]>([1, 2, 3, 4, 5]);
  const toggle = (d: number) => setDays(days.includes(d) ? days.filter((x) => x !== d) : [...days, d].sort());
  return (
    <form class="admin-form" data-testid="statement-form" onSubmit={(e) => {
      e.preventDefault();
      const v = filled(f.values);
      void onSubmit({ ...v, valid_from: v.valid_from ?? "", given_by_guardian_id: v.given_by_guardian_id ?? "", weekdays: days })
        .then((ok) => ok && f.reset());
    }}>
      <h4>{t("admin.statement.new")}</h4>
      <fieldset class="weekdays field" data-field="weekdays">
        <legend>{t("admin.statement.weekdays")}</legend>
        {WEEKDAYS.map((d) => (
          <label class="check" key={d}>
            <input type="checkbox" checked={days.includes(d)} data-testid={`weekday-${d}`} onChange={() => toggle(d)} />
            {t(`admin.weekday.${d}` as "admin.weekday.1")}
          </label>
        ))}
        {outcome?.fields.weekdays !== undefined && <span class="field-error" role="alert" data-testid="field-error">{t("admin.field.invalid")}</span>}
      </fieldset>
      <Field label={t("admin.statement.given_by")} name="given_by_guardian_id" outcome={outcome}>
        <select {...f.bind("given_by_guardian_id")} onChange={f.bind("given_by_guardian_id").onInput}>
          {guardians.map((g) => <option key={g.guardian_id} value={g.guardian_id}>{g.name}</option>)}
        </select>
      </Field>
      <Field label={t("admin.document")} name="document" outcome={outcome}><input {...f.bind("document")} /></Field>
      <Dates bind={f.bind} outcome={outcome} />
      <button type="submit" class="primary" data-testid="statement-file">{t("admin.statement.file")}</button>
    </form>
  );
}
