import type { Section } from "../section";

/**
 * Placeholder for WebSocket figures, so docs/performance.md keeps a place for them. Replace
 * `measure` and `render` with a real measurement (and `Section<null>` with its result type).
 */
export const websocketSection: Section<null> = {
  id: "websocket",
  title: "WebSocket",
  async measure() {
    return null;
  },
  render() {
    return "_Not measured yet._ Figures go here once `bench/sections/websocket.ts` measures them.";
  },
};
