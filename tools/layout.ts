/**
 * The rooms of `lib/` and who may import whom, checked on the real import graph:
 * `deno info --json` over every module of `lib/`, type-only imports and the
 * JSDoc `import("…")` types of the page's JavaScript included (a type couples
 * rooms as much as a value does). The README's "Layout" section says the same
 * rules in words.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run tools/layout.ts
 * ```
 *
 * prints each import that breaks a rule and exits 1 if any does.
 *
 * @module
 */

/**
 * A room of `lib/`:
 * - `core`: the pure top-level modules (no I/O): cron, koitab, args, …;
 * - `helpers`: the top-level modules that touch the system: files, koidir, users;
 * - `protocol`: the contract's TypeScript (`lib/protocol/*.ts`);
 * - `protocol-js`: the contract's browser modules (`lib/protocol/*.js`), which
 *   the page loads too;
 * - `link`, `runs`: what koid and `koitab` share (the server's client, running a job);
 * - `page`: the page as HTTP responses, which the server and `koitab -d open` share;
 * - `daemon`, `cli`, `server`, `ui`: the four parties.
 */
export type Room =
  | "core"
  | "helpers"
  | "protocol"
  | "protocol-js"
  | "link"
  | "runs"
  | "page"
  | "daemon"
  | "cli"
  | "server"
  | "ui";

/** The top-level modules that touch the system (the others are pure). */
const HELPERS = new Set(["files.ts", "koidir.ts", "users.ts"]);

/** The rooms each room may import at run time (its own included). */
export const MAY_IMPORT: Readonly<Record<Room, readonly Room[]>> = {
  "protocol-js": ["protocol-js"],
  core: ["core", "protocol-js"],
  protocol: ["protocol", "protocol-js", "core"],
  helpers: ["helpers", "core"],
  link: ["link", "protocol", "protocol-js", "core", "helpers"],
  runs: ["runs", "protocol", "protocol-js", "core", "helpers"],
  page: ["page", "core", "helpers"],
  daemon: ["daemon", "link", "runs", "protocol", "protocol-js", "core", "helpers"],
  cli: ["cli", "link", "runs", "page", "protocol", "protocol-js", "core", "helpers"],
  server: ["server", "page", "protocol", "protocol-js", "core", "helpers"],
  ui: ["ui", "protocol-js"],
};

/** Rooms a room may import for types only, beyond {@linkcode MAY_IMPORT}: the page's wire types. */
const MAY_IMPORT_TYPES: Readonly<Partial<Record<Room, readonly Room[]>>> = {
  ui: ["protocol"],
};

/** One import: from a module to another, both as paths from the repository's root. */
export interface Edge {
  readonly from: string;
  readonly to: string;
  /** Whether only types are imported (`import type`, a JSDoc `import("…")`). */
  readonly typeOnly: boolean;
}

/** An import that breaks a rule, and the rule. */
export interface Violation extends Edge {
  readonly rule: string;
}

/**
 * The room of a module.
 *
 * @param path The module's path from the repository's root (`lib/cli/run.ts`).
 * @returns Its room, or null outside `lib/`.
 *
 * @example
 * ```ts
 * import { roomOf } from "./layout.ts";
 *
 * if (roomOf("lib/cron.ts") !== "core" || roomOf("lib/files.ts") !== "helpers") throw new Error();
 * if (roomOf("lib/protocol/signing.js") !== "protocol-js" || roomOf("koid.ts") !== null) {
 *   throw new Error();
 * }
 * ```
 */
export function roomOf(path: string): Room | null {
  const parts = path.split("/");
  if (parts[0] !== "lib" || parts.length < 2) return null;
  if (parts.length === 2) return HELPERS.has(parts[1]!) ? "helpers" : "core";
  const folder = parts[1]!;
  if (folder === "protocol") return path.endsWith(".js") ? "protocol-js" : "protocol";
  if (["link", "runs", "page", "daemon", "cli", "server", "ui"].includes(folder)) {
    return folder as Room;
  }
  throw new RangeError(
    `${path} is in no room: add lib/${folder}/ to tools/layout.ts and the README`,
  );
}

/**
 * The imports that break the rules.
 *
 * @param edges Every import among the modules.
 * @returns The imports a rule forbids, each with the rule in words; none when the layout holds.
 *
 * @example The page may not import the server
 * ```ts
 * import { judge } from "./layout.ts";
 *
 * const [broken] = judge([{ from: "lib/ui/api.js", to: "lib/server/store.ts", typeOnly: true }]);
 * if (broken?.rule !== "ui/ may import only ui/ and protocol/*.js (and protocol/ for types)") {
 *   throw new Error(broken?.rule);
 * }
 * ```
 */
export function judge(edges: readonly Edge[]): Violation[] {
  const violations: Violation[] = [];
  for (const edge of edges) {
    const from = roomOf(edge.from);
    if (from === null) continue;
    const to = roomOf(edge.to);
    if (to === null) {
      violations.push({ ...edge, rule: "lib/ may import nothing outside lib/" });
      continue;
    }
    const allowed = [...MAY_IMPORT[from], ...(edge.typeOnly ? MAY_IMPORT_TYPES[from] ?? [] : [])];
    if (!allowed.includes(to)) violations.push({ ...edge, rule: ruleOf(from) });
  }
  return violations;
}

/** A room's rule, in words. */
function ruleOf(room: Room): string {
  const names: Record<Room, string> = {
    core: "the pure core",
    helpers: "the system helpers",
    protocol: "protocol/",
    "protocol-js": "protocol/*.js",
    link: "link/",
    runs: "runs/",
    page: "page/",
    daemon: "daemon/",
    cli: "cli/",
    server: "server/",
    ui: "ui/",
  };
  const allowed = MAY_IMPORT[room].map((other) => names[other]);
  const types = MAY_IMPORT_TYPES[room]?.map((other) => names[other]) ?? [];
  const last = allowed.pop();
  return `${names[room]} may import only ${
    allowed.length ? `${allowed.join(", ")} and ` : ""
  }${last}${types.length ? ` (and ${types.join(", ")} for types)` : ""}`;
}

/** Every module of `lib/`, as paths from the root. */
async function libModules(root: URL): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, root))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (/\.(ts|js)$/.test(entry.name)) found.push(path);
    }
  };
  await walk("lib/");
  return found.sort();
}

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

/**
 * The import graph of `lib/`, from `deno info --json` over every one of its modules.
 *
 * @param root The repository's root.
 * @returns Every import among the modules (and out of them), as paths from the root.
 * @throws {Error} If `deno info` fails.
 */
export async function importGraph(root: URL): Promise<Edge[]> {
  const modules = await libModules(root);
  // One root that imports them all, so one `deno info` sees the whole graph.
  const dir = await Deno.makeTempDir({ prefix: "koi_layout_" });
  try {
    const all = `${dir}/all.ts`;
    await Deno.writeTextFile(
      all,
      modules.map((path) => `import ${JSON.stringify(new URL(path, root).href)};\n`).join(""),
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--no-config", all],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    if (!output.success) {
      throw new Error(`deno info failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: InfoModule[];
    };
    const relative = (specifier: string) =>
      specifier.startsWith(root.href) ? specifier.slice(root.href.length) : specifier;
    return info.modules.flatMap((module) => {
      const from = relative(module.specifier);
      return (module.dependencies ?? []).flatMap((dependency) => {
        const code = dependency.code?.specifier;
        const type = dependency.type?.specifier;
        const to = code ?? type;
        if (to === undefined || to.startsWith("node:")) return [];
        return [{ from, to: relative(to), typeOnly: code === undefined }];
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  const violations = judge(await importGraph(root));
  for (const { from, to, typeOnly, rule } of violations) {
    console.log(`${from} → ${to}${typeOnly ? " (types)" : ""}: ${rule}`);
  }
  if (violations.length > 0) Deno.exit(1);
  console.log("lib/ keeps its layout");
}
