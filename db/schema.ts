import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

/** Facts about this installation (install id, created time). */
export const installation = pgTable("installation", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});
