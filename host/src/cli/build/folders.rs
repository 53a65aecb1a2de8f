//! Durable Functions projects in the older programming models: function folders, each with a
//! `function.json` naming its bindings and a script (Python v1: `__init__.py` with
//! `main = df.Orchestrator.create(...)`, `df.Entity.create(...)` or an activity function;
//! JavaScript v3: `index.js` exporting `df.orchestrator(...)`, `df.entity(...)` or an activity
//! function). The SDKs register each orchestrator, activity and entity folder under its name
//! (`guest-sdk/python/compat/azure/durable_functions/_function_folders.py`,
//! `guest-sdk/js/src/v3.js`); here `durable build` finds the folders, tells their language from
//! their scripts and says which folders it leaves out (HTTP starters and other triggers).

use super::Language;
use anyhow::{Context as _, bail};
use std::path::Path;

/// The binding types that make a function durable: its trigger.
const DURABLE_TRIGGERS: &[&str] = &["orchestrationTrigger", "activityTrigger", "entityTrigger"];

/// One function folder: its name (the function's), its bindings' types and its script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionFolder {
    pub name: String,
    /// The `type` of each binding, in `function.json` order.
    pub bindings: Vec<String>,
    /// `"disabled": true` in `function.json`.
    pub disabled: bool,
    /// The language of its script, when it is Python or JavaScript.
    pub language: Option<Language>,
}

impl FunctionFolder {
    /// An orchestrator, activity or entity (registered), as opposed to an HTTP starter or
    /// another trigger (left out).
    pub fn is_durable(&self) -> bool {
        !self.disabled
            && self.bindings.iter().any(|binding| {
                DURABLE_TRIGGERS
                    .iter()
                    .any(|trigger| binding.eq_ignore_ascii_case(trigger))
            })
    }

    /// Why the folder is left out of the component, for a folder that is not durable.
    pub fn left_out_because(&self) -> Option<String> {
        if self.is_durable() {
            return None;
        }
        let bindings = self.bindings.join(", ");
        Some(if self.disabled {
            format!("function `{}` is disabled in its function.json", self.name)
        } else if self
            .bindings
            .iter()
            .any(|b| b.eq_ignore_ascii_case("httpTrigger"))
        {
            format!(
                "function `{}` ({bindings}) is left out: `durable serve` answers Durable \
                 Functions' HTTP API itself (start, status, raise event, terminate, ... at \
                 /runtime/webhooks/durabletask)",
                self.name
            )
        } else {
            format!(
                "function `{}` ({bindings}) is left out: a durable component holds \
                 orchestrators, activities and entities only (start instances through the HTTP \
                 API of `durable serve` or with `durable start`)",
                self.name
            )
        })
    }
}

/// The function folders of `dir` (its folders holding a `function.json`), sorted by name.
pub fn function_folders(dir: &Path) -> anyhow::Result<Vec<FunctionFolder>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let folder = entry.path();
        let manifest = folder.join("function.json");
        if name.starts_with('.') || name == "node_modules" || !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let json: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .with_context(|| format!("{} is not JSON", manifest.display()))?;
        let bindings = json["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|binding| binding["type"].as_str().unwrap_or("").to_owned())
            .collect();
        let language = script_language(&folder, json["scriptFile"].as_str());
        folders.push(FunctionFolder {
            name,
            bindings,
            disabled: json["disabled"] == serde_json::Value::Bool(true),
            language,
        });
    }
    folders.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(folders)
}

/// The language of a function folder's script: `scriptFile` by its extension, else the
/// `__init__.py` (Python) or `index.js` (JavaScript) it holds.
fn script_language(folder: &Path, script_file: Option<&str>) -> Option<Language> {
    let by_extension = |file: &str| match Path::new(file).extension()?.to_str()? {
        "py" => Some(Language::Python),
        "js" | "mjs" | "cjs" => Some(Language::JavaScript),
        _ => None,
    };
    if let Some(file) = script_file.filter(|f| !f.is_empty()) {
        return by_extension(file);
    }
    if folder.join("__init__.py").is_file() {
        return Some(Language::Python);
    }
    ["index.js", "index.mjs", "index.cjs"]
        .iter()
        .find(|file| folder.join(file).is_file())
        .map(|_| Language::JavaScript)
}

/// The language of a project made of function folders: the one their scripts are in.
pub fn language(dir: &Path, folders: &[FunctionFolder]) -> anyhow::Result<Option<Language>> {
    let mut languages: Vec<Language> = folders.iter().filter_map(|f| f.language).collect();
    languages.sort_by_key(|l| l.name());
    languages.dedup();
    match languages.as_slice() {
        [] => Ok(None),
        [one] => {
            if !folders.iter().any(FunctionFolder::is_durable) {
                bail!(
                    "{} holds function folders but no orchestrator, activity or entity (a \
                     function.json with an orchestrationTrigger, activityTrigger or \
                     entityTrigger binding)",
                    dir.display()
                );
            }
            Ok(Some(*one))
        }
        _ => bail!(
            "{} holds function folders in Python (`__init__.py`) and in JavaScript \
             (`index.js`): cannot tell which one to build; keep one app per directory",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(root: &Path, name: &str, function_json: &str, script: Option<&str>) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("function.json"), function_json).unwrap();
        if let Some(script) = script {
            std::fs::write(dir.join(script), "").unwrap();
        }
    }

    #[test]
    fn function_folders_are_found_and_their_language_told() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        folder(
            dir,
            "Hello",
            r#"{"bindings": [{"name": "context", "type": "orchestrationTrigger", "direction": "in"}]}"#,
            Some("__init__.py"),
        );
        folder(
            dir,
            "HttpStart",
            r#"{"bindings": [{"type": "httpTrigger"}, {"type": "http"}, {"type": "durableClient"}]}"#,
            Some("__init__.py"),
        );
        folder(
            dir,
            "Off",
            r#"{"disabled": true, "bindings": [{"type": "activityTrigger"}]}"#,
            Some("__init__.py"),
        );
        std::fs::create_dir(dir.join("shared_code")).unwrap();
        let folders = function_folders(dir).unwrap();
        let names: Vec<_> = folders.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Hello", "HttpStart", "Off"]);
        assert!(folders[0].is_durable() && !folders[1].is_durable() && !folders[2].is_durable());
        assert_eq!(folders[0].left_out_because(), None);
        let note = folders[1].left_out_because().unwrap();
        assert!(
            note.contains("`HttpStart` (httpTrigger, http, durableClient) is left out")
                && note.contains("/runtime/webhooks/durabletask"),
            "{note}"
        );
        assert!(folders[2].left_out_because().unwrap().contains("disabled"));
        assert_eq!(language(dir, &folders).unwrap(), Some(Language::Python));

        folder(
            dir,
            "Js",
            r#"{"bindings": [{"type": "activityTrigger"}]}"#,
            Some("index.js"),
        );
        let error = language(dir, &function_folders(dir).unwrap()).unwrap_err();
        assert!(error.to_string().contains("in Python"), "{error}");
    }

    #[test]
    fn a_script_file_decides_the_language_and_starters_alone_are_no_app() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        folder(
            dir,
            "Start",
            r#"{"scriptFile": "../dist/Start/index.js", "bindings": [{"type": "httpTrigger"}]}"#,
            None,
        );
        let folders = function_folders(dir).unwrap();
        assert_eq!(folders[0].language, Some(Language::JavaScript));
        let error = language(dir, &folders).unwrap_err();
        assert!(error.to_string().contains("no orchestrator"), "{error}");
        std::fs::write(dir.join("Start/function.json"), "{ not json").unwrap();
        assert!(function_folders(dir).is_err());
    }
}
