import type { Section } from "../section";
import { agentsSection } from "./agents";
import { emailSection } from "./email";
import { idleConnectionsSection } from "./idle-connections";
import { resumeSection } from "./resume";

/**
 * The sections about our own features beyond the Durable Streams protocol, in report order, after
 * `websocketSection` (append → subscriber latency). bench/run.ts lists them in SECTIONS.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const SESSION_SECTIONS: Section<any>[] = [resumeSection, idleConnectionsSection, agentsSection, emailSection];
