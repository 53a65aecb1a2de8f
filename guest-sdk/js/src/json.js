// Payloads are JSON text end to end: how values become JSON text and back.

/** JSON text as serde_json writes it (compact); `undefined` is `null`. */
export function toJson(value) {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new TypeError(`${typeof value} is not JSON`);
  return text;
}

/** Payloads are JSON text; text that is not JSON is taken as a string. */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
