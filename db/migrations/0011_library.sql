ALTER TABLE "emails" ADD COLUMN "name" text;--> statement-breakpoint
ALTER TABLE "emails" ADD COLUMN "archived_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "emails" ADD COLUMN "is_template" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "emails_library_idx" ON "emails" USING btree ("team_id","is_template","created_at","id");--> statement-breakpoint
CREATE TABLE "saved_blocks" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"brand_id" text NOT NULL,
	"name" text NOT NULL,
	"section" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);--> statement-breakpoint
ALTER TABLE "saved_blocks" ADD CONSTRAINT "saved_blocks_brand_id_brands_id_fk" FOREIGN KEY ("brand_id") REFERENCES "public"."brands"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "saved_blocks_brand_idx" ON "saved_blocks" USING btree ("team_id","brand_id","created_at");
