// Bundles a durable JavaScript app into one ES module for componentize-js:
//
//   node bundle.mjs NODE_MODULES_PARENT APP_DIR OUT.js
//
// The app is `APP_DIR/app.js`; or else a Durable Functions project: function folders (each with
// a `function.json` and its script, `index.js` unless `scriptFile` says otherwise: programming
// model v3), or else the files the `main` of `APP_DIR/package.json` names (programming model v4,
// `"main": "src/functions/*.js"`: a `*` matches within one file name). The bundle's exports are
// the WIT glue (`src/component.js`); the app's files are imported first so their `df.app.*`
// registrations run when the component is initialised (for function folders, the entry then
// registers each orchestrator, activity and entity folder under its name, `src/v3.js`; folders
// of other triggers, such as HTTP starters, are not imported). `durable` resolves to this SDK,
// `durable-functions` to it with the v3 names (`src/durable-functions.js`), `@azure/functions`
// to its stand-in (`src/functions.js`: triggers accepted, never run); `durable:*` and `wasi:*` (WIT
// interfaces the component imports) stay external for componentize-js.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [toolsDir, appDir, outFile] = process.argv.slice(2);
const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const require = createRequire(path.join(path.resolve(toolsDir), 'package.json'));
const { build } = await import(pathToFileURL(require.resolve('rolldown')).href);
const { durableTrigger } = await import(pathToFileURL(path.join(sdk, 'v3.js')).href);

const entry = '\0durable-entry';
const aliases = new Map([
  ['durable', path.join(sdk, 'index.js')],
  ['durable-functions', path.join(sdk, 'durable-functions.js')],
  ['@azure/functions', path.join(sdk, 'functions.js')],
]);

/** The function folders of a Durable Functions project (programming model v3): the folders of
 * `dir` holding a `function.json`, sorted by name, with its contents. */
function functionFolders(dir) {
  const folders = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const manifest = path.join(dir, entry.name, 'function.json');
    if (!existsSync(manifest)) continue;
    let functionJson;
    try {
      functionJson = JSON.parse(readFileSync(manifest, 'utf8').replace(/^\uFEFF/, ''));
    } catch (error) {
      fail(`${manifest} is not readable JSON (${error.message})`);
    }
    folders.push({ name: entry.name, dir: path.join(dir, entry.name), functionJson });
  }
  return folders.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The script of a function folder: `scriptFile` (relative to the folder), else its `index.js`
 * (or `index.mjs`, `index.cjs`). */
function scriptOf(folder) {
  const { scriptFile } = folder.functionJson;
  if (typeof scriptFile === 'string' && scriptFile !== '') {
    const script = path.resolve(folder.dir, scriptFile);
    if (!existsSync(script)) fail(`function \`${folder.name}\`: its scriptFile ${scriptFile} does not exist (${script})`);
    return script;
  }
  for (const name of ['index.js', 'index.mjs', 'index.cjs']) {
    const script = path.join(folder.dir, name);
    if (existsSync(script)) return script;
  }
  fail(`function \`${folder.name}\` has no index.js (nor a scriptFile in its function.json)`);
}

/** The app's files: `app.js`, or what `package.json`'s `main` names. */
function appFiles(dir) {
  const app = path.join(dir, 'app.js');
  if (existsSync(app)) return [app];
  const manifest = path.join(dir, 'package.json');
  let main;
  try {
    main = JSON.parse(readFileSync(manifest, 'utf8')).main;
  } catch (error) {
    fail(`${dir} holds neither app.js, nor function folders, nor a readable package.json (${error.message})`);
  }
  if (typeof main !== 'string' || main === '') fail(`${manifest} names no \`main\` file`);
  const pattern = path.join(dir, main);
  if (!path.basename(pattern).includes('*')) return [pattern];
  const folder = path.dirname(pattern);
  const [before, after] = path.basename(pattern).split(/\*(.*)/s);
  const files = (existsSync(folder) ? readdirSync(folder) : [])
    .filter((name) => name.startsWith(before) && name.endsWith(after) && name.length >= before.length + after.length)
    .sort()
    .map((name) => path.join(folder, name));
  if (files.length === 0) fail(`the \`main\` of ${manifest}, ${main}, matches no file`);
  return files;
}

/** The entry module's source: the app's imports, then the WIT glue's exports. */
function entrySource(dir) {
  const glue = `export { orchestrator, activity, entity, catalogue } from ${JSON.stringify(path.join(sdk, 'component.js'))};`;
  const folders = existsSync(path.join(dir, 'app.js')) ? [] : functionFolders(dir);
  if (folders.length === 0) {
    return [...appFiles(dir).map((file) => `import ${JSON.stringify(file)};`), glue].join('\n');
  }
  const durable = folders.filter((folder) => durableTrigger(folder.functionJson).kind !== null && folder.functionJson.disabled !== true);
  if (durable.length === 0) fail(`${dir} holds function folders but no orchestrator, activity or entity (orchestrationTrigger, activityTrigger, entityTrigger)`);
  const lines = durable.map((folder, i) => `import * as f${i} from ${JSON.stringify(scriptOf(folder))};`);
  lines.push(`import { registerFunctionFolders } from ${JSON.stringify(path.join(sdk, 'v3.js'))};`);
  const list = durable.map(
    (folder, i) => `  { name: ${JSON.stringify(folder.name)}, functionJson: ${JSON.stringify(folder.functionJson)}, module: f${i} },`,
  );
  lines.push('registerFunctionFolders([', ...list, ']);', glue);
  return lines.join('\n');
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

const entryCode = entrySource(path.resolve(appDir));
await build({
  input: entry,
  logLevel: 'warn',
  plugins: [
    {
      name: 'durable',
      resolveId(source) {
        if (source === entry) return entry;
        if (source.startsWith('durable:') || source.startsWith('wasi:')) return { id: source, external: true };
        return aliases.get(source) ?? null;
      },
      load(id) {
        return id === entry ? entryCode : null;
      },
    },
  ],
  output: { file: path.resolve(outFile), format: 'esm' },
});
