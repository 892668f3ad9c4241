// The typed client: paths and schemas generated from the service's OpenAPI document
// (`make web` dumps it to web/openapi.json; `npm run api-types` writes schema.d.ts).
import createClient, { type Middleware } from "openapi-fetch";
import { device } from "../device";
import { noteServerTime } from "../time";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type RosterPupil = Schemas["RosterPupil"];
export type Roster = Schemas["RosterOut"];
export type Pupil = Schemas["PupilOut"];
export type School = Schemas["SchoolOut"];
export type Me = Schemas["Me"];

/** A problem+json answer, as every error of the API is. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string | null;
  pupils?: { pupil_id: string; name: string; reason: string; reason_text: string }[];
  current_state?: { status?: string; gone?: { how: string; at: string } | null } | null;
  [extra: string]: unknown;
}

/** The problem's code: the last part of its type URI (conflict, release-refused, ...). */
export function problemCode(p: Problem): string {
  return p.type.split("/").pop() ?? "";
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = device.token();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    request.headers.set("X-Device-Id", device.id());
    return request;
  },
  onResponse({ response }) {
    noteServerTime(response.headers.get("X-Server-Time"));
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin });
api.use(auth);

/** Did the request not reach the service (offline, connection dropped)? */
export function unreachable(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof DOMException && error.name === "AbortError");
}
