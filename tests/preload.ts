import { afterAll } from "bun:test";
import { releaseTestPostgres } from "./support/postgres";

// One Postgres for the whole `bun test` run; every file clones its own database from the template.
afterAll(async () => {
  await releaseTestPostgres();
});
