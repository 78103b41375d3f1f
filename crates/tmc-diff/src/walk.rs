//! The generic field walk: two serialised values in, the leaf paths that differ out.
//!
//! Comparing `serde_json::Value`s instead of struct fields means a field added to the DSL (or
//! to a mitigation) is diffed without touching this crate: the walk only knows JSON shapes.

use serde_json::Value;

/// One differing leaf: dotted path, old value, new value (`None` = absent).
pub(crate) type Leaf = (String, Option<Value>, Option<Value>);

/// Whether a value counts as "not there": the model serialises undeclared options, empty lists
/// and empty sub-structs by leaving them out, so `null`, `[]` and `{}` all mean absent.
fn is_absent(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Canonical multiset of a scalar list: order carries no meaning in the DSL's lists of ids and
/// tags, so reordering them is not a change.
fn sorted_scalars(a: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(Value::to_string).collect();
    v.sort();
    v
}

/// Appends to `out` every leaf under `path` where `old` and `new` differ.
///
/// Objects recurse key by key (old's keys first, then keys only `new` has, so the order
/// follows the struct's field order and is deterministic); a sub-struct that appears or
/// disappears is expanded into its leaves against "absent". Lists of scalars are compared as
/// multisets and reported whole; lists holding objects are compared index by index
/// (`path[i]`).
pub(crate) fn walk(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Leaf>) {
    let (old_absent, new_absent) = (is_absent(old), is_absent(new));
    if old_absent && new_absent {
        return;
    }
    let old = if old_absent { None } else { old };
    let new = if new_absent { None } else { new };
    match (old, new) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(_)), _) | (_, Some(Value::Object(_)))
            if old.is_none_or(Value::is_object) && new.is_none_or(Value::is_object) =>
        {
            let empty = serde_json::Map::new();
            let a = old.and_then(Value::as_object).unwrap_or(&empty);
            let b = new.and_then(Value::as_object).unwrap_or(&empty);
            for (k, va) in a {
                walk(&join(path, k), Some(va), b.get(k), out);
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    walk(&join(path, k), None, Some(vb), out);
                }
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b)))
            if !(a.iter().all(is_scalar) && b.iter().all(is_scalar)) =>
        {
            for i in 0..a.len().max(b.len()) {
                walk(&format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            if sorted_scalars(a) != sorted_scalars(b) {
                out.push((path.to_string(), old.cloned(), new.cloned()));
            }
        }
        _ => out.push((path.to_string(), old.cloned(), new.cloned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaves(a: Value, b: Value) -> Vec<Leaf> {
        let mut out = Vec::new();
        walk("", Some(&a), Some(&b), &mut out);
        out
    }

    #[test]
    fn absent_null_and_empty_are_equal() {
        assert!(leaves(json!({"a": null, "b": []}), json!({"c": {}})).is_empty());
    }

    #[test]
    fn a_new_sub_struct_is_expanded_into_leaves() {
        let out = leaves(json!({}), json!({"auth": {"scheme": "jwt", "mfa": true}}));
        let paths: Vec<&str> = out.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(paths, ["auth.scheme", "auth.mfa"]);
        assert_eq!(out[0].1, None);
        assert_eq!(out[0].2, Some(json!("jwt")));
    }

    #[test]
    fn scalar_lists_ignore_order_but_not_content() {
        assert!(leaves(json!({"m": ["a", "b"]}), json!({"m": ["b", "a"]})).is_empty());
        let out = leaves(json!({"m": ["a", "b"]}), json!({"m": ["a", "c"]}));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "m");
    }

    #[test]
    fn object_lists_compare_by_index_and_type_changes_are_leaves() {
        let out = leaves(
            json!({"l": [{"x": 1}], "t": {"k": 1}}),
            json!({"l": [{"x": 2}, {"x": 3}], "t": 5}),
        );
        let paths: Vec<&str> = out.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(paths, ["l[0].x", "l[1].x", "t"]);
    }
}
