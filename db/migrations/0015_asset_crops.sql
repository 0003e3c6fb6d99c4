ALTER TABLE "assets" ADD COLUMN "source_id" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "crop" jsonb;--> statement-breakpoint
CREATE INDEX "assets_source_idx" ON "assets" USING btree ("source_id") WHERE "source_id" IS NOT NULL;
