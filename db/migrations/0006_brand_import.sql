CREATE TABLE "brand_imports" (
	"id" text PRIMARY KEY NOT NULL,
	"team_id" text,
	"url" text NOT NULL,
	"session_id" text NOT NULL,
	"run_id" text,
	"status" text NOT NULL,
	"proposal" text,
	"error_code" text,
	"error" text,
	"brand_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "brand_references" (
	"brand_id" text NOT NULL,
	"asset_id" text NOT NULL,
	"name" text,
	"tags" text[] DEFAULT '{}' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "brand_references_brand_id_asset_id_pk" PRIMARY KEY("brand_id","asset_id")
);
--> statement-breakpoint
ALTER TABLE "brand_imports" ADD CONSTRAINT "brand_imports_brand_id_brands_id_fk" FOREIGN KEY ("brand_id") REFERENCES "public"."brands"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "brand_references" ADD CONSTRAINT "brand_references_brand_id_brands_id_fk" FOREIGN KEY ("brand_id") REFERENCES "public"."brands"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "brand_references" ADD CONSTRAINT "brand_references_asset_id_assets_id_fk" FOREIGN KEY ("asset_id") REFERENCES "public"."assets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "brand_imports_team_idx" ON "brand_imports" USING btree ("team_id","created_at");--> statement-breakpoint
CREATE INDEX "brand_references_asset_idx" ON "brand_references" USING btree ("asset_id");