-- Stored checkpoints of session compaction (SessionService.compacted): a session's compacted state
-- at a stream position, so a process that has not compacted the session yet folds only the appends
-- after it. One row per stream and state format: a process whose Compactor has another format never
-- reads it (it folds from the start), and a newer position replaces an older one.
CREATE TABLE "session_checkpoints" (
	"stream_id" bigint NOT NULL,
	"format" integer NOT NULL,
	"pos" bigint NOT NULL,
	"state" text NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "session_checkpoints_stream_id_format_pk" PRIMARY KEY("stream_id","format")
);
--> statement-breakpoint
ALTER TABLE "session_checkpoints" ADD CONSTRAINT "session_checkpoints_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE cascade ON UPDATE no action;
