// Bundles a durable JavaScript app into one ES module for componentize-js:
//
//   node bundle.mjs NODE_MODULES_PARENT APP_DIR OUT.js
//
// The app is `APP_DIR/app.js`, or else the files the `main` of `APP_DIR/package.json` names, as
// a Durable Functions project lays them out (`"main": "src/functions/*.js"`: a `*` matches within
// one file name). The bundle's exports are the WIT glue (`src/component.js`); the app's files
// are imported first so their `df.app.*` registrations run when the component is initialised.
// `durable` and `durable-functions` resolve to this SDK, `@azure/functions` to its stand-in
// (`src/functions.js`: triggers accepted, never run); `durable:*` (the host's WIT interfaces)
// stays external for componentize-js.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [toolsDir, appDir, outFile] = process.argv.slice(2);
const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const require = createRequire(path.join(path.resolve(toolsDir), 'package.json'));
const { build } = await import(pathToFileURL(require.resolve('rolldown')).href);

const entry = '\0durable-entry';
const aliases = new Map([
  ['durable', path.join(sdk, 'index.js')],
  ['durable-functions', path.join(sdk, 'index.js')],
  ['@azure/functions', path.join(sdk, 'functions.js')],
]);

/** The app's files: `app.js`, or what `package.json`'s `main` names. */
function appFiles(dir) {
  const app = path.join(dir, 'app.js');
  if (existsSync(app)) return [app];
  const manifest = path.join(dir, 'package.json');
  let main;
  try {
    main = JSON.parse(readFileSync(manifest, 'utf8')).main;
  } catch (error) {
    fail(`${dir} holds neither app.js nor a readable package.json (${error.message})`);
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

function fail(message) {
  console.error(message);
  process.exit(1);
}

const files = appFiles(path.resolve(appDir));
await build({
  input: entry,
  logLevel: 'warn',
  plugins: [
    {
      name: 'durable',
      resolveId(source) {
        if (source === entry) return entry;
        if (source.startsWith('durable:')) return { id: source, external: true };
        return aliases.get(source) ?? null;
      },
      load(id) {
        if (id !== entry) return null;
        return [
          ...files.map((file) => `import ${JSON.stringify(file)};`),
          `export { orchestrator, activity, entity, catalogue } from ${JSON.stringify(path.join(sdk, 'component.js'))};`,
        ].join('\n');
      },
    },
  ],
  output: { file: path.resolve(outFile), format: 'esm' },
});
