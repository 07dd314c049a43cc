import { channelPlugins } from "../adapters/index.js";
import { sourcePlugins } from "../sources/index.js";
import type { HeraldPlugins } from "./plugins.js";

/** The backends and source kinds Herald ships with. */
export const defaultPlugins: HeraldPlugins = { channels: channelPlugins, sources: sourcePlugins };
