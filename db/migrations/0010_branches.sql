ALTER TABLE "sessions" ADD COLUMN "parent_id" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "root_id" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "branch_from" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "current_branch" text;