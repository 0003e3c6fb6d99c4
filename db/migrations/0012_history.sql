ALTER TABLE "email_versions" ADD COLUMN "kind" text DEFAULT 'edit' NOT NULL;--> statement-breakpoint
ALTER TABLE "email_versions" ADD COLUMN "shows" integer;--> statement-breakpoint
ALTER TABLE "email_versions" ADD COLUMN "author" text;--> statement-breakpoint
ALTER TABLE "email_versions" ADD COLUMN "client_id" text;--> statement-breakpoint
UPDATE "email_versions" SET "shows" = "version", "kind" = CASE WHEN "note" IN ('Generated', 'Stopped before the end') THEN 'generated' WHEN "note" LIKE 'Restored version %' THEN 'restore' ELSE 'edit' END;--> statement-breakpoint
ALTER TABLE "session_presence" ADD COLUMN "name" text;
