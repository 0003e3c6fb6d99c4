CREATE TABLE "assets" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"kind" text DEFAULT 'upload' NOT NULL,
	"name" text,
	"content_type" text NOT NULL,
	"bytes" "bytea" NOT NULL,
	"byte_length" integer NOT NULL,
	"width" integer,
	"height" integer,
	"sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "brands" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"name" text NOT NULL,
	"data" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "briefs" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"brand_id" text NOT NULL,
	"data" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "email_versions" (
	"email_id" text NOT NULL,
	"version" integer NOT NULL,
	"document" text NOT NULL,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "email_versions_email_id_version_pk" PRIMARY KEY("email_id","version")
);
--> statement-breakpoint
CREATE TABLE "emails" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"brief_id" text,
	"brand_id" text NOT NULL,
	"session_id" text NOT NULL,
	"run_id" text,
	"status" text NOT NULL,
	"provider" text,
	"version" integer DEFAULT 0 NOT NULL,
	"document" text NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "briefs" ADD CONSTRAINT "briefs_brand_id_brands_id_fk" FOREIGN KEY ("brand_id") REFERENCES "public"."brands"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "email_versions" ADD CONSTRAINT "email_versions_email_id_emails_id_fk" FOREIGN KEY ("email_id") REFERENCES "public"."emails"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "emails" ADD CONSTRAINT "emails_brief_id_briefs_id_fk" FOREIGN KEY ("brief_id") REFERENCES "public"."briefs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "emails" ADD CONSTRAINT "emails_brand_id_brands_id_fk" FOREIGN KEY ("brand_id") REFERENCES "public"."brands"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "assets_team_idx" ON "assets" USING btree ("team_id","created_at");--> statement-breakpoint
CREATE INDEX "brands_team_idx" ON "brands" USING btree ("team_id");--> statement-breakpoint
CREATE INDEX "briefs_team_idx" ON "briefs" USING btree ("team_id");--> statement-breakpoint
CREATE INDEX "emails_team_idx" ON "emails" USING btree ("team_id","created_at");