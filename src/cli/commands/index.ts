import type { Command } from "../command.js";
import { workersCommand } from "./workers.js";
import { devicesCommand } from "./devices.js";
import { hivesCommand } from "./hives.js";
import { watchCommand } from "./watch.js";
import { topCommand } from "./top.js";
import { spawnCommand } from "./spawn.js";
import { stopCommand } from "./stop.js";
import { queenCommand } from "./queen.js";
import { hiveCommand } from "./hive.js";
import { upCommand } from "./up.js";
import { certsCommand } from "./certs.js";
import { configCommand } from "./config.js";
import { logsCommand } from "./logs.js";
import { describeCommand } from "./describe.js";
import { completionCommand } from "./completion.js";
import { routeCommand } from "./route.js";

/** Every `apiary` command, in the order `apiary --help` lists them. */
export const commands: Command[] = [
  upCommand, queenCommand, hiveCommand, workersCommand, devicesCommand, hivesCommand, watchCommand, topCommand, routeCommand, spawnCommand, stopCommand,
  logsCommand, describeCommand, certsCommand, configCommand, completionCommand,
];
