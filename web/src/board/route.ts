// Which of the board's and the safety office's screens a sign-in lands on, if any: a paired
// duty board and a duty leader on the board; the safety officer and an inspector on theirs; an
// admin opening /app/#duty on the duty roster.
import type { FunctionComponent } from "preact";
import type { SignedIn } from "../device";
import { DutyScreen } from "../duty/Duty";
import { Safety } from "../safety/Safety";
import { Board } from "./Board";

export type Screen = FunctionComponent<{ me: SignedIn; onSignOut: () => void }>;

export function boardScreenFor(me: SignedIn): Screen | null {
  if (me.device?.kind === "duty_board" || me.role === "duty_leader") return Board;
  if (me.role === "safety_officer" || me.role === "inspector") return Safety;
  if (me.role === "admin" && location.hash === "#duty") return DutyScreen; // the day's duty roster
  return null;
}
