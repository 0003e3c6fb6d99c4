CREATE TABLE "input_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"run_id" text NOT NULL,
	"kind" text NOT NULL,
	"prompt" text NOT NULL,
	"schema" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"value" text,
	"answered_by" text,
	"deadline_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"answered_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "turn" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "message_id" text;--> statement-breakpoint
ALTER TABLE "runs" ADD COLUMN "resume_state" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "agent" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "run_defaults" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "double_texting" text DEFAULT 'parallel' NOT NULL;--> statement-breakpoint
ALTER TABLE "input_requests" ADD CONSTRAINT "input_requests_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "input_requests_run_idx" ON "input_requests" USING btree ("run_id");--> statement-breakpoint
CREATE INDEX "input_requests_pending_idx" ON "input_requests" USING btree ("status","deadline_at");