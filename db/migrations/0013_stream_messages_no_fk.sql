-- Appends insert a stream_messages row per append; the foreign key to streams checked each one with
-- a trigger query (about a third of the batch statement's time). Every insert already comes from a
-- statement that has just updated the stream's row under its lock, so the check never finds
-- anything; the cascade it gave deletes is kept as a trigger on the (rare) stream delete instead.
ALTER TABLE "stream_messages" DROP CONSTRAINT "stream_messages_stream_id_streams_id_fk";--> statement-breakpoint
CREATE FUNCTION "stream_messages_cascade"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "stream_messages" WHERE "stream_id" = OLD."id";
  RETURN OLD;
END $$;--> statement-breakpoint
CREATE TRIGGER "streams_delete_messages" AFTER DELETE ON "streams" FOR EACH ROW EXECUTE FUNCTION "stream_messages_cascade"();
