// Bundles a durable JavaScript app into one ES module for componentize-js:
//
//   node bundle.mjs NODE_MODULES_PARENT APP.js OUT.js
//
// The bundle's exports are the WIT glue (`src/component.js`); the app is imported first so its
// `df.app.*` registrations run when the component is initialised. `durable` resolves to this SDK,
// `durable:*` (the host's WIT interfaces) stays external for componentize-js.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [toolsDir, appFile, outFile] = process.argv.slice(2);
const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const require = createRequire(path.join(path.resolve(toolsDir), 'package.json'));
const { build } = await import(pathToFileURL(require.resolve('rolldown')).href);

const entry = '\0durable-entry';
await build({
  input: entry,
  logLevel: 'warn',
  plugins: [
    {
      name: 'durable',
      resolveId(source) {
        if (source === entry) return entry;
        if (source.startsWith('durable:')) return { id: source, external: true };
        if (source === 'durable') return path.join(sdk, 'index.js');
        return null;
      },
      load(id) {
        if (id !== entry) return null;
        return [
          `import ${JSON.stringify(path.resolve(appFile))};`,
          `export { orchestrator, activity, entity, catalogue } from ${JSON.stringify(path.join(sdk, 'component.js'))};`,
        ].join('\n');
      },
    },
  ],
  output: { file: path.resolve(outFile), format: 'esm' },
});
