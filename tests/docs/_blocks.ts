/**
 * Extraction of the fenced code blocks of the documentation, and what the docs test needs to
 * check them: import rewriting, preludes for fragments, a small shell-line splitter.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** One fenced code block. */
export interface CodeBlock {
  /** Path relative to the repository root, with `/`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The language tag (first word of the info string), `""` when none. */
  lang: string;
  /** The words after the language tag (e.g. `["ignore"]`). */
  attributes: string[];
  /** The block's text, ending in a newline. */
  text: string;
}

/**
 * The repository root: the nearest directory above this file holding `deno.json` (so it is
 * found from `tests/docs/` and from the npm build's `npm/esm/tests/docs/` too).
 *
 * @returns The root, or `undefined` when there is none.
 */
export function findRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "deno.json")) && existsSync(join(dir, "README.md"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The documentation files: `README.md` and every `docs/**\/*.md`.
 *
 * @param root The repository root.
 * @returns Paths relative to the root, sorted.
 */
export function docFiles(root: string): string[] {
  const files = ["README.md"];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) files.push(path);
    }
  };
  if (existsSync(join(root, "docs"))) walk("docs");
  return files.sort();
}

/**
 * Extract the fenced (backtick) code blocks of a Markdown text.
 *
 * @param file The file's path, for the result.
 * @param markdown The text.
 * @returns The blocks in order.
 */
export function extractBlocks(file: string, markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,})(.*)$/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[2]!;
    const [lang = "", ...attributes] = open[3]!.trim().split(/\s+/).filter((w) => w !== "");
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      if (new RegExp(`^ {0,3}${fence}\`*\\s*$`).test(lines[j]!)) break;
      body.push(lines[j]!);
    }
    blocks.push({ file, line: i + 1, lang, attributes, text: body.join("\n") + "\n" });
    i = j;
  }
  return blocks;
}

/**
 * Read every documentation block.
 *
 * @param root The repository root.
 * @returns The blocks of every file, in order.
 */
export function readBlocks(root: string): CodeBlock[] {
  return docFiles(root).flatMap((file) =>
    extractBlocks(file, readFileSync(join(root, file), "utf8"))
  );
}

/** The names a fragment may use without defining them, and what defines them. */
const PRELUDE: readonly { name: string; code: string; needs: string[] }[] = [
  { name: "connect", code: 'import { connect } from "@mqx/mq";', needs: [] },
  { name: "startBroker", code: 'import { startBroker } from "@mqx/mq/broker";', needs: [] },
  { name: "url", code: "const url = await docsUrl();", needs: [] },
  { name: "client", code: "const client = await connect(url);", needs: ["connect", "url"] },
  // Placeholders of the enhanced-authentication sketch (an ignored block: type-checked only).
  { name: "clientFirstMessage", code: "declare const clientFirstMessage: Uint8Array;", needs: [] },
  {
    name: "computeClientFinal",
    code: "declare function computeClientFinal(data: Uint8Array | undefined): Uint8Array;",
    needs: [],
  },
];

function declares(source: string, name: string): boolean {
  return new RegExp(`\\b(const|let|var|function|class|using)\\s+${name}\\b`).test(source) ||
    new RegExp(`import\\s*(type\\s*)?\\{[^}]*\\b${name}\\b[^}]*\\}`).test(source);
}

function uses(source: string, name: string): boolean {
  return new RegExp(`(^|[^.\\w$"'])${name}\\b`, "m").test(source);
}

/**
 * The lines that define what a fragment uses and does not define (`client`, `url`, ...).
 *
 * @param source The block's code.
 * @returns Prelude lines, in dependency order.
 */
export function preludeFor(source: string): string[] {
  const wanted = new Set<string>();
  const want = (name: string) => {
    const entry = PRELUDE.find((p) => p.name === name)!;
    if (wanted.has(name) || declares(source, name)) return;
    for (const dep of entry.needs) want(dep);
    wanted.add(name);
  };
  for (const p of PRELUDE) if (uses(source, p.name)) want(p.name);
  return PRELUDE.filter((p) => wanted.has(p.name)).map((p) => p.code);
}

/** Options for {@linkcode toModule}. */
export interface ToModuleOptions {
  /** The repository root. */
  root: string;
  /** The directory holding `_docs_*.ts` (this one). */
  harness: string;
  /** Rewrite bare `ws` to what this runtime resolves from a file outside the repository. */
  ws: string;
}

/**
 * Turn a TypeScript block into a module: published names and root-relative paths become
 * absolute file URLs (`@mqx/mq` and `@mqx/mq/broker` the harness versions), a prelude defines
 * what a fragment uses without defining, and cleanup closes what the example opened.
 *
 * @param block The block.
 * @param options Paths.
 * @returns The module's source.
 */
export function toModule(block: CodeBlock, options: ToModuleOptions): string {
  const { root, harness } = options;
  const exports = (JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as {
    exports: Record<string, string>;
  }).exports;
  const map = new Map<string, string>();
  for (const [key, path] of Object.entries(exports)) {
    const sub = key === "." ? "" : key.slice(1);
    for (const name of ["@mqx/mq", "jsr:@mqx/mq", "mqx", "npm:mqx"]) {
      map.set(name + sub, join(root, path));
    }
  }
  for (const name of ["@mqx/mq", "jsr:@mqx/mq", "mqx", "npm:mqx"]) {
    map.set(name, join(harness, "_docs_mod.ts"));
    map.set(`${name}/broker`, join(harness, "_docs_broker.ts"));
  }
  map.set("./mod.ts", join(harness, "_docs_mod.ts"));
  map.set("./broker/mod.ts", join(harness, "_docs_broker.ts"));
  const resolve = (specifier: string): string => {
    const mapped = map.get(specifier);
    if (mapped !== undefined) return pathToFileURL(mapped).href;
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      // README's relative imports are relative to the repository root; docs/' to docs/.
      return pathToFileURL(join(root, dirname(block.file), specifier)).href;
    }
    if (specifier === "ws") return options.ws;
    return specifier;
  };
  const body = block.text.replace(
    /(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"']+)\2/g,
    (_all, head: string, quote: string, spec: string) => `${head}${quote}${resolve(spec)}${quote}`,
  );
  const runtime = pathToFileURL(join(harness, "_docs_runtime.ts")).href;
  const prelude = preludeFor(block.text).map((line) =>
    line.replace(/from "([^"]+)"/, (_all, spec: string) => `from "${resolve(spec)}"`)
  );
  return [
    `// ${block.file}:${block.line}`,
    `import { docsCleanup, docsUrl } from "${runtime}";`,
    ...prelude,
    "void docsUrl;",
    body,
    "await docsCleanup();",
    "",
  ].join("\n");
}

/**
 * Split the text of a shell block into commands: continuation lines joined, comments removed,
 * words unquoted, and lists and pipelines (`&&`, `||`, `;`, `|`, `&`) split; redirections and
 * their targets are dropped.
 *
 * @param text The block's text.
 * @returns Each command as its words.
 */
export function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  const joined = text.replace(/\\\n/g, " ");
  for (const line of joined.split("\n")) {
    let words: string[] = [];
    let word: string | undefined;
    let redirect = false;
    const endWord = () => {
      if (word !== undefined) {
        if (redirect) redirect = false;
        else words.push(word);
      }
      word = undefined;
    };
    const endCommand = () => {
      endWord();
      if (words.length > 0) commands.push(words);
      words = [];
    };
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c === "'" || c === '"') {
        const close = line.indexOf(c, i + 1);
        const end = close < 0 ? line.length : close;
        word = (word ?? "") + line.slice(i + 1, end);
        i = end;
      } else if (c === " " || c === "\t") {
        endWord();
      } else if (c === "#" && word === undefined) {
        break;
      } else if (c === "&" || c === "|" || c === ";") {
        endCommand();
        if (line[i + 1] === c) i++;
      } else if (c === "<" || c === ">") {
        endWord();
        if (line[i + 1] === ">" || line[i + 1] === "&") i++;
        redirect = true;
      } else {
        word = (word ?? "") + c;
      }
    }
    endCommand();
  }
  return commands;
}

/**
 * The `mq` arguments of a shell command: for `mq …`, `npx mq …`, `./mq-<version>-<target> …`,
 * `dist/mq-<target> …` and `deno run -A cli/main.ts …`; `undefined` for other commands.
 *
 * @param words The command's words.
 * @returns The arguments after the program.
 */
export function mqArgs(words: readonly string[]): string[] | undefined {
  let rest = [...words];
  if (rest[0] === "sudo") rest = rest.slice(1);
  if (rest[0] === "npx") rest = rest.slice(1);
  const program = rest[0];
  if (program === undefined) return undefined;
  if (/^(.*\/)?mq(-[\w.-]+)?(\.exe)?$/.test(program) && !program.endsWith(".service")) {
    return rest.slice(1);
  }
  if (program === "deno" && rest[1] === "run") {
    const main = rest.findIndex((w) => w.endsWith("cli/main.ts"));
    if (main > 0) return rest.slice(main + 1);
  }
  return undefined;
}

/**
 * A name for a block's extracted file.
 *
 * @param block The block.
 * @returns e.g. `docs_client_md_8.ts`.
 */
export function moduleName(block: CodeBlock): string {
  return `${block.file.replace(/[^\w]/g, "_")}_${block.line}.ts`;
}
