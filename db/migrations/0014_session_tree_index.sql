-- Branches of a conversation are found by their root (listing, switching, the subscribe ack).
CREATE INDEX IF NOT EXISTS "sessions_root_idx" ON "sessions" USING btree ("root_id") WHERE "root_id" IS NOT NULL;
