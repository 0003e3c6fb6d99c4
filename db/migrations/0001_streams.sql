CREATE TABLE "stream_messages" (
	"stream_id" bigint NOT NULL,
	"pos" bigint NOT NULL,
	"data" "bytea" NOT NULL,
	"count" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "stream_messages_stream_id_pos_pk" PRIMARY KEY("stream_id","pos")
);
--> statement-breakpoint
CREATE TABLE "stream_producers" (
	"stream_id" bigint NOT NULL,
	"producer_id" text NOT NULL,
	"epoch" bigint NOT NULL,
	"last_seq" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stream_producers_stream_id_producer_id_pk" PRIMARY KEY("stream_id","producer_id")
);
--> statement-breakpoint
CREATE TABLE "streams" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"path" text NOT NULL,
	"content_type" text NOT NULL,
	"state" text DEFAULT 'active' NOT NULL,
	"ttl_seconds" integer,
	"expires_at" timestamp with time zone,
	"expires_at_raw" text,
	"last_access_ms" bigint NOT NULL,
	"closed" boolean DEFAULT false NOT NULL,
	"closed_by_producer" text,
	"closed_by_epoch" bigint,
	"closed_by_seq" bigint,
	"tail_pos" bigint DEFAULT 0 NOT NULL,
	"last_stream_seq" text,
	"forked_from_id" bigint,
	"forked_from_path" text,
	"fork_offset" text,
	"fork_sub_offset" integer DEFAULT 0 NOT NULL,
	"ref_count" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "stream_messages" ADD CONSTRAINT "stream_messages_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stream_producers" ADD CONSTRAINT "stream_producers_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "streams_path_key" ON "streams" USING btree ("path");--> statement-breakpoint
CREATE INDEX "streams_expiry_idx" ON "streams" USING btree ("expires_at");