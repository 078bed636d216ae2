// PostGraphile 5, the peer of issue 13 (bench/read_path.py copies this file next to its
// node_modules in bench/out/postgraphile/ and starts it). The Amber preset over the public
// schema: `allConversions` with `partnerByPartnerId` and `programByProgramId`, and
// `allConversionRequests` with postgraphile-plugin-connection-filter's `filter` (the explorer
// needs `in` and `>=`). No auth: it connects as the bench database's owner and every row is
// visible.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? 8778),
    graphiql: false,
  },
  grafast: { explain: false },
};

export default preset;
