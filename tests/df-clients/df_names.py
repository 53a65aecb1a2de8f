"""The public names of `azure.durable_functions`, the real package's against durable's stand-in.

    python df_names.py real                 # the installed package's names, as JSON
    python df_names.py ours PATH... < REAL  # those of REAL that durable's (on PATH...) lacks

Names are compared on the module, on `DFApp` and `Blueprint` instances, on the orchestration and
entity context classes, and on `RetryOptions` and `EntityId` instances; only the real package's
own names count (not `os`, `json`, ... it imports)."""

import json
import sys
import types


def public(obj):
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def subjects(df):
    return {
        "module": df,
        "DFApp": df.DFApp(),
        "Blueprint": df.Blueprint(),
        "DurableOrchestrationContext": df.DurableOrchestrationContext,
        "DurableEntityContext": df.DurableEntityContext,
        "RetryOptions": df.RetryOptions(1000, 3),
        "EntityId": df.EntityId("counter", "k"),
    }


def real():
    import azure.durable_functions as df

    names = {}
    for where, subject in subjects(df).items():
        found = public(subject)
        if where == "module":
            found = [
                n for n in found
                if not isinstance(getattr(df, n), types.ModuleType)
                and getattr(getattr(df, n), "__module__", "").startswith("azure.")
            ]
        names[where] = found
    print(json.dumps(names))


def ours(paths):
    sys.path[:0] = paths
    import azure.durable_functions as df

    wanted = json.load(sys.stdin)
    ours = subjects(df)
    missing = {}
    for where, names in wanted.items():
        gone = [n for n in names if not hasattr(ours[where], n)]
        if gone:
            missing[where] = gone
    print(json.dumps(missing))


if __name__ == "__main__":
    if sys.argv[1] == "real":
        real()
    else:
        ours(sys.argv[2:])
