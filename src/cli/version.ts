/**
 * The package's version, from package.json: imported (not read at run time) so a checkout, an
 * installed package and a `bun build --compile` binary all carry it.
 */
import pkg from "../../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
