//! Which deployed component runs a function one component calls by name in another.
//!
//! An orchestration's activities and sub-orchestrations run on the orchestration's own
//! component when it offers the name (the dispatcher checks that against the catalogue it has
//! in memory, without reading the store). Only when it does not are the deployed components
//! consulted, with [`resolve_deployed`]: a pure function of the name and the deployments'
//! catalogues (newest first), so the rule is unit-tested here without wasm or SQL.
//!
//! The rule. Two deployments are *versions of one app* when one's catalogue contains the
//! other's entirely (a new version that adds names, or one that drops some), or when they
//! share an orchestrator or entity name (names the host already resolves to the newest
//! deployment offering them: a start, an entity operation). Among the deployments offering the
//! name, each one a newer deployment offering it is a version of drops out. One left: the
//! function runs there. None: `UnknownFunction`. Several (different apps that happen to offer
//! the same name): `AmbiguousFunction`, naming the candidates; the host does not guess. A
//! sub-orchestration is never ambiguous: deployments offering the same orchestrator share its
//! name, so the newest of them runs it, as it would for a start. A retired deployment
//! (`durable retire`) is not among the candidates: it runs only the instances pinned to it.

use crate::store::{Catalogue, ComponentRecord};
use crate::types::{Failure, failure_types};

/// What kind of function a name is looked up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// A name in a catalogue's `activities`.
    Activity,
    /// A name in a catalogue's `orchestrators`.
    Orchestrator,
    /// A name in a catalogue's `entities`.
    Entity,
}

impl FunctionKind {
    fn label(self) -> &'static str {
        match self {
            FunctionKind::Activity => "activity",
            FunctionKind::Orchestrator => "orchestrator",
            FunctionKind::Entity => "entity",
        }
    }

    /// Whether `catalogue` offers `name` as this kind of function.
    pub fn offered_by(self, catalogue: &Catalogue, name: &str) -> bool {
        let names = match self {
            FunctionKind::Activity => &catalogue.activities,
            FunctionKind::Orchestrator => &catalogue.orchestrators,
            FunctionKind::Entity => &catalogue.entities,
        };
        names.iter().any(|n| n == name)
    }
}

/// A name [`resolve_deployed`] cannot send anywhere; it becomes the [`Failure`] the call fails
/// with (`From`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// What kind of function was called.
    pub kind: FunctionKind,
    /// The name called.
    pub name: String,
    /// The deployments left by the rule, newest first: none (`UnknownFunction`) or several
    /// (`AmbiguousFunction`).
    pub candidates: Vec<String>,
}

impl From<Unresolved> for Failure {
    fn from(unresolved: Unresolved) -> Failure {
        let Unresolved {
            kind,
            name,
            candidates,
        } = unresolved;
        if candidates.is_empty() {
            return Failure::fatal(
                failure_types::UNKNOWN_FUNCTION,
                format!("no deployed component offers {} `{name}`", kind.label()),
            );
        }
        let short: Vec<String> = candidates.iter().map(|d| short_digest(d)).collect();
        let mut failure = Failure::fatal(
            failure_types::AMBIGUOUS_FUNCTION,
            format!(
                "{} `{name}` is offered by {} deployed components that are not versions of one \
                 app ({}), and the calling component does not offer it itself; give it a \
                 distinct name in all but one of them, or offer it in the caller's own component",
                kind.label(),
                candidates.len(),
                short.join(", ")
            ),
        );
        failure.details = Some(serde_json::json!({ "candidates": candidates }).to_string());
        failure
    }
}

/// The newest deployment offering `name`: where a start, an entity operation or an
/// orchestration started by an entity runs. `deployments` are newest first.
pub fn newest_offering<'a>(
    kind: FunctionKind,
    name: &str,
    deployments: &'a [ComponentRecord],
) -> Option<&'a ComponentRecord> {
    deployments
        .iter()
        .find(|c| c.retired_at.is_none() && kind.offered_by(&c.catalogue, name))
}

/// The names (orchestrators, activities, entities) `deployment` is the newest offer of among
/// `all` (newest first): where new instances, calls and entity operations for them go. Empty
/// for a retired or superseded deployment.
pub fn newest_for(deployment: &ComponentRecord, all: &[ComponentRecord]) -> Vec<String> {
    let offers = &deployment.catalogue;
    let kinds = [
        (FunctionKind::Orchestrator, &offers.orchestrators),
        (FunctionKind::Activity, &offers.activities),
        (FunctionKind::Entity, &offers.entities),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, names)| names.iter().map(move |name| (kind, name)))
        .filter(|(kind, name)| {
            newest_offering(*kind, name, all)
                .is_some_and(|newest| newest.digest == deployment.digest)
        })
        .map(|(_, name)| name.clone())
        .collect()
}

/// Where the activities and sub-orchestrations of one turn run: the calling orchestration's
/// own component when it offers the name (answered from its catalogue, which the engine has
/// in memory), else [`resolve_deployed`] over the deployments. The engine reads the
/// deployments from the store only when [`Callees::needs_deployments`] says a name is not
/// the caller's own.
#[derive(Debug, Clone, Copy)]
pub struct Callees<'a> {
    /// The digest of the calling orchestration's component.
    pub caller_digest: &'a str,
    /// Its catalogue; `None` when the component could not be loaded (then every name is
    /// looked up among the deployments).
    pub caller: Option<&'a Catalogue>,
    /// The deployments, newest first; empty when they were not needed.
    pub deployed: &'a [ComponentRecord],
}

impl Callees<'_> {
    /// Whether some of `calls` are not offered by the caller itself.
    pub fn needs_deployments<'n>(
        caller: Option<&Catalogue>,
        mut calls: impl Iterator<Item = (FunctionKind, &'n str)>,
    ) -> bool {
        calls.any(|(kind, name)| !caller.is_some_and(|c| kind.offered_by(c, name)))
    }

    /// The digest `name` runs on, or why it runs nowhere (the call fails with the
    /// [`Failure`] an [`Unresolved`] becomes).
    pub fn resolve(&self, kind: FunctionKind, name: &str) -> Result<String, Unresolved> {
        if self.caller.is_some_and(|c| kind.offered_by(c, name)) {
            return Ok(self.caller_digest.to_owned());
        }
        resolve_deployed(kind, name, self.deployed)
    }
}

/// The digest of the deployment that runs `name`, among `deployments` (newest first, as
/// [`crate::store::Store::components`] returns them), by the rule in the module docs.
pub fn resolve_deployed(
    kind: FunctionKind,
    name: &str,
    deployments: &[ComponentRecord],
) -> Result<String, Unresolved> {
    let offering: Vec<&ComponentRecord> = deployments
        .iter()
        .filter(|c| c.retired_at.is_none() && kind.offered_by(&c.catalogue, name))
        .collect();
    let mut left: Vec<String> = offering
        .iter()
        .enumerate()
        .filter(|(i, older)| {
            !offering[..*i]
                .iter()
                .any(|newer| versions_of_one_app(&newer.catalogue, &older.catalogue))
        })
        .map(|(_, c)| c.digest.clone())
        .collect();
    match left.len() {
        1 => Ok(left.remove(0)),
        _ => Err(Unresolved {
            kind,
            name: name.to_owned(),
            candidates: left,
        }),
    }
}

/// See the module docs.
fn versions_of_one_app(a: &Catalogue, b: &Catalogue) -> bool {
    let shares = |x: &[String], y: &[String]| x.iter().any(|n| y.contains(n));
    contains(a, b)
        || contains(b, a)
        || shares(&a.orchestrators, &b.orchestrators)
        || shares(&a.entities, &b.entities)
}

/// Whether `outer` offers every name `inner` offers.
fn contains(outer: &Catalogue, inner: &Catalogue) -> bool {
    let all = |x: &[String], y: &[String]| y.iter().all(|n| x.contains(n));
    all(&outer.orchestrators, &inner.orchestrators)
        && all(&outer.activities, &inner.activities)
        && all(&outer.entities, &inner.entities)
}

/// `sha256:` and the first 12 hex digits: enough to tell deployments apart in a message.
fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A deployment offering orchestrators, activities and entities.
    fn deployed(digest: &str, o: &[&str], a: &[&str], e: &[&str]) -> ComponentRecord {
        ComponentRecord {
            digest: format!("sha256:{digest}"),
            catalogue: Catalogue {
                orchestrators: names(o),
                activities: names(a),
                entities: names(e),
            },
            deployed_at: 0,
            retired_at: None,
            version: None,
            app: None,
        }
    }

    fn activity(name: &str, newest_first: &[ComponentRecord]) -> Result<String, Box<Failure>> {
        resolve_deployed(FunctionKind::Activity, name, newest_first)
            .map_err(|unresolved| Box::new(unresolved.into()))
    }

    #[test]
    fn one_component_offering_the_name_runs_it() {
        let deployed = [
            deployed("py", &["greet_all"], &["shout"], &[]),
            deployed("rs", &["hello_sequence"], &["say_hello"], &[]),
        ];
        assert_eq!(activity("say_hello", &deployed).unwrap(), "sha256:rs");
        assert_eq!(activity("shout", &deployed).unwrap(), "sha256:py");
        let sub = resolve_deployed(FunctionKind::Orchestrator, "greet_all", &deployed);
        assert_eq!(sub.unwrap(), "sha256:py");
    }

    #[test]
    fn a_name_no_component_offers_is_unknown() {
        let deployed = [deployed("rs", &["hello_sequence"], &["say_hello"], &[])];
        let failure = activity("nope", &deployed).unwrap_err();
        assert_eq!(failure.error_type, failure_types::UNKNOWN_FUNCTION);
        assert_eq!(
            failure.message,
            "no deployed component offers activity `nope`"
        );
        assert!(failure.non_retriable);
        // An orchestrator's name is not an activity.
        let failure = activity("hello_sequence", &deployed).unwrap_err();
        assert_eq!(failure.error_type, failure_types::UNKNOWN_FUNCTION);
    }

    #[test]
    fn a_new_version_that_adds_or_drops_names_supersedes_the_old_one() {
        let v1 = deployed("v1", &["o"], &["x", "z"], &[]);
        let adds = deployed("adds", &["o", "o2"], &["x", "z", "y"], &[]);
        assert_eq!(
            activity("x", &[adds.clone(), v1.clone()]).unwrap(),
            "sha256:adds"
        );
        let drops = deployed("drops", &["o"], &["x"], &[]);
        assert_eq!(
            activity("x", &[drops.clone(), v1.clone()]).unwrap(),
            "sha256:drops"
        );
        // A name only the old version offers is still found there.
        assert_eq!(activity("z", &[drops, v1.clone()]).unwrap(), "sha256:v1");
        // Identical catalogues (the same app rebuilt, or rewritten in another language).
        let same = deployed("same", &["o"], &["x", "z"], &[]);
        assert_eq!(activity("x", &[same, v1]).unwrap(), "sha256:same");
    }

    #[test]
    fn a_new_version_that_renames_an_activity_is_still_a_version() {
        // Neither catalogue contains the other, but they share the orchestrator `o`.
        let v1 = deployed("v1", &["o"], &["x", "old"], &[]);
        let v2 = deployed("v2", &["o"], &["x", "new"], &[]);
        assert_eq!(activity("x", &[v2, v1]).unwrap(), "sha256:v2");
        // And an activity library without orchestrators that shares an entity.
        let l1 = deployed("l1", &[], &["x", "old"], &["counter"]);
        let l2 = deployed("l2", &[], &["x", "new"], &["counter"]);
        assert_eq!(activity("x", &[l2, l1]).unwrap(), "sha256:l2");
    }

    #[test]
    fn redeploying_an_older_version_makes_it_the_one_that_runs() {
        let v1 = deployed("v1", &["o"], &["x"], &[]);
        let v2 = deployed("v2", &["o", "o2"], &["x", "y"], &[]);
        assert_eq!(
            activity("x", &[v1.clone(), v2.clone()]).unwrap(),
            "sha256:v1"
        );
        assert_eq!(activity("y", &[v1, v2]).unwrap(), "sha256:v2");
    }

    #[test]
    fn different_apps_offering_the_same_name_are_ambiguous() {
        let fan_out = deployed("aaaaaaaaaaaaaaaa", &["fan_out_fan_in"], &["work"], &[]);
        let bench = deployed("bbbbbbbbbbbbbbbb", &["chain", "fan_out"], &["work"], &[]);
        let caller = deployed("cccccccccccccccc", &["polyglot"], &["shout"], &[]);
        let failure = activity("work", &[fan_out, caller, bench]).unwrap_err();
        assert_eq!(failure.error_type, failure_types::AMBIGUOUS_FUNCTION);
        assert!(failure.non_retriable);
        assert!(
            failure.message.starts_with(
                "activity `work` is offered by 2 deployed components that are not versions of \
                 one app (sha256:aaaaaaaaaaaa, sha256:bbbbbbbbbbbb)"
            ),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("distinct name"),
            "{}",
            failure.message
        );
        let details: serde_json::Value =
            serde_json::from_str(failure.details.as_deref().unwrap()).unwrap();
        assert_eq!(
            details["candidates"],
            serde_json::json!(["sha256:aaaaaaaaaaaaaaaa", "sha256:bbbbbbbbbbbbbbbb"])
        );
    }

    #[test]
    fn a_sub_orchestration_goes_to_the_newest_deployment_offering_it() {
        let a = deployed("a", &["shared", "a"], &["x"], &[]);
        let b = deployed("b", &["shared", "b"], &["y"], &[]);
        let sub = resolve_deployed(FunctionKind::Orchestrator, "shared", &[b, a]);
        assert_eq!(sub.unwrap(), "sha256:b");
    }

    #[test]
    fn versions_of_two_apps_leave_one_candidate_per_app() {
        let a1 = deployed("a1", &["a"], &["work"], &[]);
        let a2 = deployed("a2", &["a"], &["work", "more"], &[]);
        let b1 = deployed("b1", &["b"], &["work"], &[]);
        let failure = activity("work", &[a2.clone(), b1, a1.clone()]).unwrap_err();
        assert_eq!(failure.error_type, failure_types::AMBIGUOUS_FUNCTION);
        assert!(
            failure.message.contains("2 deployed components"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains("sha256:a2, sha256:b1"),
            "{}",
            failure.message
        );
        assert_eq!(activity("work", &[a2, a1]).unwrap(), "sha256:a2");
    }

    #[test]
    fn a_caller_runs_its_own_names_without_the_deployments() {
        let own = deployed("own", &["o"], &["mine"], &[]);
        let other = [deployed("other", &["p"], &["theirs"], &[])];
        let calls = |names: &[&'static str]| {
            names
                .iter()
                .map(|n| (FunctionKind::Activity, *n))
                .collect::<Vec<_>>()
                .into_iter()
        };
        let caller = Some(&own.catalogue);
        assert!(!Callees::needs_deployments(caller, calls(&["mine"])));
        assert!(Callees::needs_deployments(
            caller,
            calls(&["mine", "theirs"])
        ));
        assert!(Callees::needs_deployments(None, calls(&["mine"])));
        let callees = Callees {
            caller_digest: &own.digest,
            caller,
            deployed: &other,
        };
        assert_eq!(
            callees.resolve(FunctionKind::Activity, "mine").unwrap(),
            own.digest
        );
        assert_eq!(
            callees.resolve(FunctionKind::Activity, "theirs").unwrap(),
            other[0].digest
        );
        let missing = Failure::from(
            callees
                .resolve(FunctionKind::Orchestrator, "mine")
                .unwrap_err(),
        );
        assert_eq!(missing.error_type, failure_types::UNKNOWN_FUNCTION);
    }

    #[test]
    fn a_retired_deployment_takes_nothing_new() {
        let mut v2 = deployed("v2", &["o"], &["x"], &[]);
        v2.retired_at = Some(5);
        let v1 = deployed("v1", &["o"], &["x"], &[]);
        let both = [v2, v1];
        let newest = newest_offering(FunctionKind::Orchestrator, "o", &both);
        assert_eq!(newest.map(|c| c.digest.as_str()), Some("sha256:v1"));
        assert_eq!(activity("x", &both).unwrap(), "sha256:v1");
        let failure = activity("x", &both[..1]).unwrap_err();
        assert_eq!(failure.error_type, failure_types::UNKNOWN_FUNCTION);
    }

    #[test]
    fn the_newest_deployment_offering_a_name_is_found() {
        let deployed = [
            deployed("new", &["o"], &[], &["counter"]),
            deployed("old", &["o"], &[], &["counter", "bank"]),
        ];
        let newest = |kind, name| newest_offering(kind, name, &deployed).map(|c| c.digest.clone());
        assert_eq!(
            newest(FunctionKind::Entity, "counter").as_deref(),
            Some("sha256:new")
        );
        assert_eq!(
            newest(FunctionKind::Entity, "bank").as_deref(),
            Some("sha256:old")
        );
        assert_eq!(
            newest(FunctionKind::Orchestrator, "o").as_deref(),
            Some("sha256:new")
        );
        assert_eq!(newest(FunctionKind::Entity, "none"), None);
    }
}
