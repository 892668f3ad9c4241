// Which of the board's and the safety office's screens a sign-in lands on, if any: a paired
// duty board and a duty leader on the board; the safety officer and an inspector on theirs.
import type { FunctionComponent } from "preact";
import type { SignedIn } from "../device";
import { Safety } from "../safety/Safety";
import { Board } from "./Board";

export type Screen = FunctionComponent<{ me: SignedIn; onSignOut: () => void }>;

export function boardScreenFor(me: SignedIn): Screen | null {
  if (me.device?.kind === "duty_board" || me.role === "duty_leader") return Board;
  if (me.role === "safety_officer" || me.role === "inspector") return Safety;
  return null;
}
