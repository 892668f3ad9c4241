"""A whole afternoon of the demo school over HTTP, refusals included; also runnable on a live server.

    python -m tests.scripted_afternoon --base-url http://127.0.0.1:8000 --token <admin token>
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from typing import Any

import httpx

_ids = itertools.count(1)


class Afternoon:
    """Drives the API as the school's staff would, recording every answer it got."""

    def __init__(self, http: httpx.Client, admin_token: str, run: str = "a") -> None:
        self.http = http
        self.tokens: dict[str, str] = {"admin": admin_token}
        self.run = run
        self.log: Counter[str] = Counter()

    def h(self, staff_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[staff_id]}",
                "Idempotency-Key": f"afternoon-{self.run}-{next(_ids)}", "X-Device-Id": "script"}

    def token_for(self, staff_id: str) -> None:
        if staff_id not in self.tokens:
            r = self.http.post(f"/v1/staff/{staff_id}/tokens", headers=self.h("admin"))
            assert r.status_code == 201, r.text
            self.tokens[staff_id] = r.json()["token"]

    def post(self, who: str, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        self.token_for(who)
        r = self.http.post(path, json=body, headers=self.h(who))
        self.log[f"{path.split('/')[2]} {r.status_code}"] += 1
        assert r.status_code == expect, f"{path} {body}: {r.status_code} {r.text}"
        return dict(r.json())

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = self.http.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens['admin']}"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def run_all(self) -> dict[str, Any]:
        school = self.get("/v1/school")
        today = self.get("/v1/afternoon")
        assert today["service"], "no service today"
        pupils = {p["pupil_id"]: p for p in today["pupils"]}
        details = {pid: self.get(f"/v1/pupils/{pid}") for pid in pupils}
        guards = [s["staff_id"] for s in school["staff"] if "guard" in s["roles"]]
        gates = [g["gate_id"] for g in school["gates"]]
        homework = [g for g in school["groups"] if g["kind"] == "homework"]
        club = next(g for g in school["groups"] if g["kind"] == "club")
        group_of = {cid: g for g in homework for cid in g["class_ids"]}

        # 1. Leave reported before the handover; one absence marked by mistake, then corrected.
        by_class: dict[str, list[str]] = {}
        for pid, p in sorted(pupils.items(), key=lambda kv: kv[1]["name"]):
            by_class.setdefault(p["class_id"], []).append(pid)
        classes = {c["class_id"]: c for c in school["classes"]}
        first_class = min(by_class)
        # The pupils kept from the gate (absent, leaving early) are never the ones a restricted
        # adult comes for: those are refused at the gate below.
        free = [pid for pid in by_class[first_class] if not details[pid]["restrictions"]]
        sick, mistaken = free[0], free[1]
        homeroom = classes[first_class]["homeroom_teacher_id"]
        self.post(homeroom, "/v1/absences", {"pupil_id": sick, "with_leave": True, "reason": "病假"}, 200)
        marked = self.post(homeroom, "/v1/absences", {"pupil_id": mistaken, "with_leave": False}, 200)
        assert marked["status"] == "absent"
        seq = self.get(f"/v1/pupils/{mistaken}/afternoon")["chain"][-1]["seq"]
        fixed = self.post(homeroom, "/v1/corrections", {"pupil_id": mistaken, "day": today["day"],
                          "corrects": seq, "reason": "学生在卫生间，已找到"}, 200)
        assert fixed["status"] == "not_handed_over"

        # 2. Every class handed to its homework group's teacher, who counts for themself.
        mismatch_class = sorted(by_class)[1]
        for class_id in sorted(by_class):
            klass, group = classes[class_id], group_of[class_id]
            expected = [pid for pid in by_class[class_id] if pid != sick]
            offer = self.post(klass["homeroom_teacher_id"], "/v1/handovers", {
                "class_id": class_id, "count": len(expected), "to_staff_id": group["teacher_id"],
                "place_id": group["group_id"]}, 201)
            received = offer["pupil_ids"]
            if class_id == mismatch_class:
                received = received[:-1]  # one pupil stopped at the toilet on the way
            confirmed = self.post(group["teacher_id"], f"/v1/handovers/{offer['handover_id']}/confirm",
                             {"count": len(received), "received_pupil_ids": received}, 200)
            if class_id == mismatch_class:
                assert confirmed["mismatch"]
                straggler = offer["pupil_ids"][-1]
                late = self.post(klass["homeroom_teacher_id"], "/v1/handovers", {
                    "pupil_ids": [straggler], "count": 1, "to_staff_id": group["teacher_id"],
                    "place_id": group["group_id"]}, 201)
                self.post(group["teacher_id"], f"/v1/handovers/{late['handover_id']}/confirm", {"count": 1}, 200)

        # 3. Club day: three pupils walk to the club and come back.
        holder = {pid: group_of[pupils[pid]["class_id"]] for pid in pupils if pid != sick}
        walkers = [pid for pid in sorted(holder) if pupils[pid]["class_id"] in club["class_ids"]][:3]
        home = holder[walkers[0]]
        walkers = [w for w in walkers if holder[w]["group_id"] == home["group_id"]]
        out = self.post(home["teacher_id"], "/v1/handovers", {"pupil_ids": walkers, "count": len(walkers),
                        "to_staff_id": club["teacher_id"], "place_id": club["group_id"]}, 201)
        self.post(club["teacher_id"], f"/v1/handovers/{out['handover_id']}/confirm", {"count": len(walkers)}, 200)
        back = self.post(club["teacher_id"], "/v1/handovers", {"pupil_ids": walkers, "count": len(walkers),
                         "to_staff_id": home["teacher_id"], "place_id": home["group_id"]}, 201)
        self.post(home["teacher_id"], f"/v1/handovers/{back['handover_id']}/confirm", {"count": len(walkers)}, 200)

        # 4. An early departure straight from the group, approved by the homeroom teacher.
        early = next(pid for pid in sorted(holder)
                     if pid not in walkers and not details[pid]["restrictions"])
        early_group = holder.pop(early)
        collector = next(g for g in details[early]["guardians"] if g["may_collect"])
        self.post(early_group["teacher_id"], "/v1/early-departures", {
            "pupil_id": early, "collector_id": collector["guardian_id"],
            "approved_by_staff_id": classes[pupils[early]["class_id"]]["homeroom_teacher_id"],
            "reason": "看牙医", "homeroom_informed": True}, 200)

        # 5. Groups walk their pupils to the gates; a guard at each gate confirms the count.
        gate_of: dict[str, str] = {}
        guard_at: dict[str, str] = {}
        for k, group in enumerate(homework):
            mine = sorted(pid for pid, g in holder.items() if g["group_id"] == group["group_id"])
            if not mine:
                continue
            at = k % len(gates)  # one guard receives and releases at each gate
            gate, guard = gates[at], guards[at % len(guards)]
            offer = self.post(group["teacher_id"], "/v1/handovers", {"pupil_ids": mine, "count": len(mine),
                              "to_staff_id": guard, "place_id": gate}, 201)
            self.post(guard, f"/v1/handovers/{offer['handover_id']}/confirm", {"count": len(mine)}, 200)
            gate_of.update({pid: gate for pid in mine})
            guard_at[gate] = guard

        # 6. The refusals: a restricted adult, a stranger, going home alone without a statement.
        refusals = 0
        for pid in sorted(gate_of):
            restricted = [r for r in details[pid]["restrictions"] if not r["lifted"]
                          and (r["valid_from"] or "") <= today["day"] <= (r["valid_to"] or "9999")]
            if restricted:
                r = self.post(guard_at[gate_of[pid]], "/v1/releases", {
                    "pupil_ids": [pid], "gate_id": gate_of[pid], "identity_check": "id_card",
                    "adult": {"name": restricted[0]["name"]}}, 422)
                assert r["pupils"][0]["reason"] == "restricted"
                refusals += 1
        stranger = min(gate_of)
        r = self.post(guard_at[gate_of[stranger]], "/v1/releases", {"pupil_ids": [stranger],
                      "gate_id": gate_of[stranger], "identity_check": "known_to_staff",
                      "adult": {"name": "不认识的人"}}, 422)
        refusals += 1
        alone = next(pid for pid in sorted(gate_of) if not details[pid]["statements"])
        self.post(guard_at[gate_of[alone]], "/v1/home-alone", {"pupil_id": alone, "gate_id": gate_of[alone]}, 422)
        refusals += 1

        # 7. A guardian phones: the guard records a one-day authorisation and releases to that adult.
        called = sorted(gate_of)[1]
        guardian = details[called]["guardians"][0]
        self.post(guard_at[gate_of[called]], f"/v1/pupils/{called}/phone-authorisations", {
            "guardian_id": guardian["guardian_id"], "adult": {"name": "邻居王阿姨", "relation": "邻居",
                                                              "id_tail": "4321"}}, 201)
        self.post(guard_at[gate_of[called]], "/v1/releases", {"pupil_ids": [called], "gate_id": gate_of[called],
                  "identity_check": "id_card", "adult": {"name": "邻居王阿姨", "id_tail": "4321"}}, 200)

        # 8. The last pupil waits: handed to the gatehouse, then collected.
        remaining = sorted(pid for pid in gate_of if pid != called)
        last = remaining.pop()
        g = guard_at[gate_of[last]]
        other_guard = next(x for x in guards if x != g) if len(guards) > 1 else None
        if other_guard:
            moved = self.post(g, "/v1/handovers", {"pupil_ids": [last], "count": 1,
                              "to_staff_id": other_guard, "place_id": "gatehouse"}, 201)
            self.post(other_guard, f"/v1/handovers/{moved['handover_id']}/confirm", {"count": 1}, 200)
            g = other_guard

        # 9. Everyone else: alone under a statement, or released (siblings together) to a guardian.
        done: set[str] = set()
        for pid in remaining:
            if pid in done:
                continue
            weekday_ok = [s for s in details[pid]["statements"] if not s["withdrawn"]]
            if weekday_ok and pid != alone:
                alone_home = self.http.post("/v1/home-alone",
                                            json={"pupil_id": pid, "gate_id": gate_of[pid]},
                                            headers=self.h(guard_at[gate_of[pid]]))
                if alone_home.status_code == 200:
                    self.log["home-alone 200"] += 1
                    done.add(pid)
                    continue
            collector = next((c for c in details[pid]["guardians"] if c["may_collect"] and not any(
                r["name"] == c["name"] for r in details[pid]["restrictions"] if not r["lifted"])), None)
            assert collector is not None, details[pid]
            siblings = [q for q in remaining if q not in done and q != pid and gate_of[q] == gate_of[pid]
                        and any(c["phone"] == collector["phone"] for c in details[q]["guardians"])]
            released = self.post(guard_at[gate_of[pid]], "/v1/releases", {
                "pupil_ids": [pid, *siblings], "gate_id": gate_of[pid], "identity_check": "known_to_staff",
                "adult": {"name": collector["name"]}}, 200)
            assert all(p["status"] == "gone" for p in released["pupils"])
            done.update([pid, *siblings])
        last_collector = next(c for c in details[last]["guardians"] if c["may_collect"])
        self.post(g, "/v1/releases", {"pupil_ids": [last], "gate_id": gate_of[last],
                  "identity_check": "call_to_guardian", "collector_id": last_collector["guardian_id"]}, 200)

        end = self.get("/v1/afternoon")
        assert end["counts"] == {"gone": len(pupils) - 1, "absent": 1}, end["counts"]
        return {"expected": len(pupils), "counts": end["counts"], "refusals_recorded": refusals,
                "requests": dict(sorted(self.log.items()))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="an admin token of the demo school")
    args = parser.parse_args()
    with httpx.Client(base_url=args.base_url, timeout=30) as http:
        summary = Afternoon(http, args.token, run=str(__import__("uuid").uuid4())[:8]).run_all()
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
