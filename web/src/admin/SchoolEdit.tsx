// The school's set-up, edited: its name, time zone and grades; classes and their homeroom
// teachers; homework groups and clubs; gates. Each change is answered with the school as it now is.
import { useState } from "preact/hooks";
import { api, type School } from "../api/client";
import { t } from "../i18n";
import { done, Field, key, Note, type Outcome, refused, value } from "./forms";

type Group = School["groups"][number];
type Stage = School["stage"];
const STAGES: Stage[] = ["primary", "middle", "nine_year"];
const WEEKDAYS = [1, 2, 3, 4, 5, 6, 7];

function useOutcome() {
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  async function run(call: Promise<{ data?: unknown; error?: unknown }>, text: string, after: () => void): Promise<boolean> {
    const { data, error } = await call;
    if (data === undefined) {
      setOutcome(refused(error));
      return false;
    }
    setOutcome(done(text));
    after();
    return true;
  }
  return { outcome, run };
}

export function SchoolEdit({ school, onChanged }: { school: School; onChanged: () => void }) {
  const teachers = school.staff.filter((s) => s.active && s.roles.includes("teacher"));
  return (
    <div data-testid="school-edit">
      <Profile school={school} onChanged={onChanged} />
      <Classes school={school} teachers={teachers} onChanged={onChanged} />
      <Groups school={school} teachers={teachers} onChanged={onChanged} />
      <Gates school={school} onChanged={onChanged} />
    </div>
  );
}

function Profile({ school, onChanged }: { school: School; onChanged: () => void }) {
  const [name, setName] = useState(school.name);
  const [tz, setTz] = useState(school.timezone);
  const [stage, setStage] = useState<Stage>(school.stage);
  const { outcome, run } = useOutcome();
  return (
    <form class="admin-form" data-testid="profile-form" onSubmit={(e) => {
      e.preventDefault();
      void run(api.PUT("/v1/school/profile", { params: { header: key() }, body: { name: name.trim(), timezone: tz.trim(), grades: stage } }),
        t("admin.profile.saved"), onChanged);
    }}>
      <h4>{t("admin.profile.title")}</h4>
      <Field label={t("admin.profile.name")} name="name" outcome={outcome}><input value={name} data-testid="profile-name" onInput={(e) => setName(value(e))} /></Field>
      <Field label={t("admin.profile.timezone")} name="timezone" outcome={outcome}><input value={tz} lang="en" onInput={(e) => setTz(value(e))} /></Field>
      <Field label={t("admin.profile.stage")} name="grades" outcome={outcome}>
        <select value={stage} data-testid="profile-stage" onChange={(e) => setStage(value(e) as Stage)}>
          {STAGES.map((s) => <option key={s} value={s}>{t(`admin.stage.${s}` as "admin.stage.primary")}</option>)}
        </select>
      </Field>
      <button type="submit" class="primary" data-testid="profile-save">{t("admin.save")}</button>
      <div class="wide"><Note outcome={outcome} /></div>
    </form>
  );
}

type Teachers = School["staff"];

function TeacherSelect({ teachers, value: chosen, onChange, testid, label }: { teachers: Teachers; value: string; onChange: (v: string) => void; testid: string; label?: string }) {
  return (
    <select value={chosen} data-testid={testid} aria-label={label} onChange={(e) => onChange(value(e))}>
      <option value="">{t("admin.class.no_teacher")}</option>
      {teachers.map((m) => <option key={m.staff_id} value={m.staff_id}>{m.name}</option>)}
    </select>
  );
}

function Classes({ school, teachers, onChanged }: { school: School; teachers: Teachers; onChanged: () => void }) {
  const [grade, setGrade] = useState(String(school.grades[0] ?? 1));
  const [no, setNo] = useState("");
  const [teacher, setTeacher] = useState("");
  const { outcome, run } = useOutcome();
  const name = (id: string | null | undefined) => school.staff.find((s) => s.staff_id === id)?.name ?? t("admin.class.no_teacher");
  return (
    <section data-testid="setup-classes">
      <h3>{t("admin.setup.classes")}</h3>
      <ul class="rows">
        {[...school.classes].sort((a, b) => a.grade - b.grade || a.class_no - b.class_no).map((c) => (
          <li class="row" key={c.class_id} data-testid="class-row">
            <span class="who">{c.label}</span>
            <span class="hint">{t("admin.class.homeroom", { name: name(c.homeroom_teacher_id) })}</span>
            <TeacherSelect teachers={teachers} value={c.homeroom_teacher_id ?? ""} testid="class-teacher"
              label={t("admin.class.change_teacher", { label: c.label })}
              onChange={(staff) => staff && void run(api.PUT("/v1/school/classes/{class_id}/homeroom-teacher", {
                params: { path: { class_id: c.class_id }, header: key() }, body: { staff_id: staff },
              }), t("admin.class.teacher_set", { label: c.label }), onChanged)} />
          </li>
        ))}
      </ul>
      <form class="admin-form" data-testid="class-form" onSubmit={(e) => {
        e.preventDefault();
        void run(api.POST("/v1/school/classes", { params: { header: key() }, body: {
          grade: Number(grade), class_no: Number(no), ...(teacher ? { homeroom_teacher_id: teacher } : {}) } }),
        t("admin.class.added"), () => { setNo(""); onChanged(); });
      }}>
        <h4>{t("admin.class.new")}</h4>
        <Field label={t("admin.class.grade")} name="grade" outcome={outcome}>
          <select value={grade} data-testid="class-grade" onChange={(e) => setGrade(value(e))}>
            {school.grades.map((g) => <option key={g} value={String(g)}>{t("admin.schedule.grade", { n: g })}</option>)}
          </select>
        </Field>
        <Field label={t("admin.class.no")} name="class_no" outcome={outcome}><input type="number" min={1} max={99} value={no} data-testid="class-no" onInput={(e) => setNo(value(e))} /></Field>
        <Field label={t("admin.class.teacher")} name="homeroom_teacher_id" outcome={outcome}><TeacherSelect teachers={teachers} value={teacher} onChange={setTeacher} testid="class-new-teacher" /></Field>
        <button type="submit" class="primary" disabled={!no} data-testid="class-add">{t("admin.class.add")}</button>
        <div class="wide"><Note outcome={outcome} /></div>
      </form>
    </section>
  );
}

function Groups({ school, teachers, onChanged }: { school: School; teachers: Teachers; onChanged: () => void }) {
  const [editing, setEditing] = useState<string | null>(null); // a group's id, "new", or none
  return (
    <section data-testid="setup-groups">
      <h3>{t("admin.setup.groups")}</h3>
      <ul class="rows">
        {school.groups.map((g) => (
          <li class="row" key={g.group_id} data-testid="group-row">
            <span class="who">{g.name}</span>
            <span class="hint">{t(`admin.group.${g.kind}` as "admin.group.homework")}{g.room ? ` · ${g.room}` : ""} · {g.weekdays.map((d) => t(`admin.weekday.${d}` as "admin.weekday.1")).join("、")}</span>
            <button type="button" class="ghost" data-testid="group-edit" onClick={() => setEditing(g.group_id)}>{t("admin.group.edit")}</button>
            {editing === g.group_id && <GroupForm school={school} teachers={teachers} group={g} onDone={() => { setEditing(null); onChanged(); }} />}
          </li>
        ))}
      </ul>
      {editing === "new"
        ? <GroupForm school={school} teachers={teachers} onDone={() => { setEditing(null); onChanged(); }} />
        : <button type="button" class="ghost" data-testid="group-new" onClick={() => setEditing("new")}>{t("admin.group.new")}</button>}
    </section>
  );
}

function GroupForm({ school, teachers, group, onDone }: { school: School; teachers: Teachers; group?: Group; onDone: () => void }) {
  const [name, setName] = useState(group?.name ?? "");
  const [kind, setKind] = useState<Group["kind"]>(group?.kind ?? "homework");
  const [room, setRoom] = useState(group?.room ?? "");
  const [days, setDays] = useState<number[]>(group?.weekdays ?? [1, 2, 3, 4, 5]);
  const [classes, setClasses] = useState<string[]>(group?.class_ids ?? []);
  const [teacher, setTeacher] = useState(group?.teacher_id ?? "");
  const { outcome, run } = useOutcome();
  const body = { name: name.trim(), kind, room: room.trim(), weekdays: days, class_ids: classes, ...(teacher ? { teacher_id: teacher } : {}) };
  return (
    <form class="admin-form group-form" data-testid="group-form" onSubmit={(e) => {
      e.preventDefault();
      const call = group
        ? api.PUT("/v1/school/groups/{group_id}", { params: { path: { group_id: group.group_id }, header: key() }, body })
        : api.POST("/v1/school/groups", { params: { header: key() }, body });
      void run(call, t("admin.group.saved", { name: body.name }), onDone);
    }}>
      <h4>{group ? t("admin.group.editing", { name: group.name }) : t("admin.group.new")}</h4>
      <Field label={t("admin.group.name")} name="name" outcome={outcome}><input value={name} data-testid="group-name" onInput={(e) => setName(value(e))} /></Field>
      <Field label={t("admin.group.kind")} name="kind" outcome={outcome}>
        <select value={kind} data-testid="group-kind" onChange={(e) => setKind(value(e) as Group["kind"])}>
          <option value="homework">{t("admin.group.homework")}</option>
          <option value="club">{t("admin.group.club")}</option>
        </select>
      </Field>
      <Field label={t("admin.group.room")} name="room" outcome={outcome}><input value={room} data-testid="group-room" onInput={(e) => setRoom(value(e))} /></Field>
      <Field label={t("admin.group.teacher")} name="teacher_id" outcome={outcome}><TeacherSelect teachers={teachers} value={teacher} onChange={setTeacher} testid="group-teacher" /></Field>
      <fieldset class="weekdays field" data-field="weekdays">
        <legend>{t("admin.statement.weekdays")}</legend>
        {WEEKDAYS.map((d) => (
          <label class="check" key={d}><input type="checkbox" checked={days.includes(d)}
            onChange={() => setDays(days.includes(d) ? days.filter((x) => x !== d) : [...days, d].sort())} />{t(`admin.weekday.${d}` as "admin.weekday.1")}</label>
        ))}
      </fieldset>
      <fieldset class="weekdays field" data-field="class_ids">
        <legend>{t("admin.group.classes")}</legend>
        {school.classes.map((c) => (
          <label class="check" key={c.class_id}><input type="checkbox" checked={classes.includes(c.class_id)}
            onChange={() => setClasses(classes.includes(c.class_id) ? classes.filter((x) => x !== c.class_id) : [...classes, c.class_id])} />{c.label}</label>
        ))}
      </fieldset>
      <button type="submit" class="primary" data-testid="group-save">{t("admin.save")}</button>
      <button type="button" class="ghost" onClick={onDone}>{t("admin.cancel")}</button>
      <div class="wide"><Note outcome={outcome} /></div>
    </form>
  );
}

function Gates({ school, onChanged }: { school: School; onChanged: () => void }) {
  const [name, setName] = useState("");
  const { outcome, run } = useOutcome();
  return (
    <section>
      <h3>{t("admin.setup.gate_list")}</h3>
      <form class="admin-form" data-testid="gate-form" onSubmit={(e) => {
        e.preventDefault();
        void run(api.POST("/v1/school/gates", { params: { header: key() }, body: { name: name.trim() } }),
          t("admin.gate.added", { name: name.trim() }), () => { setName(""); onChanged(); });
      }}>
        <Field label={t("admin.gate.name")} name="name" outcome={outcome}><input value={name} data-testid="gate-name" placeholder={t("admin.gate.example")} onInput={(e) => setName(value(e))} /></Field>
        <button type="submit" class="primary" disabled={!name.trim()} data-testid="gate-add">{t("admin.gate.add")}</button>
        <div class="wide"><Note outcome={outcome} /></div>
      </form>
      <p class="hint">{school.gates.map((g) => g.name).join("、")}</p>
    </section>
  );
}
