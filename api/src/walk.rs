//! Walks over what a request sends — its document and its variables — with
//! explicit stacks, never recursion: a request controls how deep these
//! trees go (a chain of 12,000 fragments fits in a 1 MiB body), and a
//! recursive walk over them would overflow the thread's stack and take the
//! whole process down. Each named fragment is visited once, so a walk costs
//! at most the size of the document.

use std::collections::{HashMap, HashSet};

use async_graphql::Variables;
use async_graphql::parser::types::{ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet};
use async_graphql_value::{ConstValue, Value};

/// The root field names `operation` would run, through fragment spreads
/// and inline fragments however nested. A spread of a fragment the
/// document does not define yields `None` in its place (validation refuses
/// it later; nothing is let through on that assumption).
pub fn root_fields<'a>(doc: &'a ExecutableDocument, operation: &'a OperationDefinition) -> Vec<Option<&'a str>> {
    let mut out = Vec::new();
    let mut visited = HashSet::new();
    let mut stack: Vec<&SelectionSet> = vec![&operation.selection_set.node];
    while let Some(set) = stack.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => out.push(Some(f.node.name.node.as_str())),
                Selection::InlineFragment(f) => stack.push(&f.node.selection_set.node),
                Selection::FragmentSpread(s) => {
                    let name = &s.node.fragment_name.node;
                    match doc.fragments.get(name) {
                        Some(fragment) if visited.insert(name.as_str()) => {
                            stack.push(&fragment.node.selection_set.node)
                        }
                        Some(_) => {}
                        None => out.push(None),
                    }
                }
            }
        }
    }
    out
}

/// Every field written in the document (operations and fragments), each
/// once, whatever its nesting.
pub fn fields(doc: &ExecutableDocument) -> Vec<&Field> {
    let mut stack: Vec<&SelectionSet> = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .collect();
    stack.extend(doc.fragments.values().map(|f| &f.node.selection_set.node));
    let mut out = Vec::new();
    while let Some(set) = stack.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    out.push(&f.node);
                    stack.push(&f.node.selection_set.node);
                }
                Selection::InlineFragment(f) => stack.push(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => {} // its fragment is walked once, above
            }
        }
    }
    out
}

/// How deeply an operation's selections nest, counting each field with a
/// selection, each inline fragment and each fragment spread as one level
/// (async-graphql's own recursion count, which it caps at 32). Each named
/// fragment is measured once; `Err(name)` names a fragment that spreads
/// itself, directly or not (a validation error).
pub fn nesting<'a>(doc: &'a ExecutableDocument, operation: &'a OperationDefinition) -> Result<usize, &'a str> {
    struct Frame<'a> {
        set: &'a SelectionSet,
        next: usize,
        height: usize,
        fragment: Option<&'a str>,
    }
    let mut measured: HashMap<&str, usize> = HashMap::new();
    let mut open: HashSet<&str> = HashSet::new();
    let mut stack = vec![Frame {
        set: &operation.selection_set.node,
        next: 0,
        height: 0,
        fragment: None,
    }];
    loop {
        let Some(top) = stack.last_mut() else { return Ok(0) };
        let Some(item) = top.set.items.get(top.next) else {
            let done = stack.pop().map_or((0, None), |f| (f.height, f.fragment));
            if let Some(name) = done.1 {
                measured.insert(name, done.0);
                open.remove(name);
            }
            match stack.last_mut() {
                Some(parent) => parent.height = parent.height.max(done.0 + 1),
                None => return Ok(done.0),
            }
            continue;
        };
        top.next += 1;
        let child = match &item.node {
            Selection::Field(f) if f.node.selection_set.node.items.is_empty() => None,
            Selection::Field(f) => Some((&f.node.selection_set.node, None)),
            Selection::InlineFragment(f) => Some((&f.node.selection_set.node, None)),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.as_str();
                match (doc.fragments.get(&s.node.fragment_name.node), measured.get(name)) {
                    (None, _) => None, // unknown: validation refuses it
                    (Some(_), Some(&h)) => {
                        top.height = top.height.max(h + 1);
                        None
                    }
                    (Some(_), None) if !open.insert(name) => return Err(name),
                    (Some(f), None) => Some((&f.node.selection_set.node, Some(name))),
                }
            }
        };
        if let Some((set, fragment)) = child {
            stack.push(Frame {
                set,
                next: 0,
                height: 0,
                fragment,
            });
        }
    }
}

/// The most directives any one field of the document carries.
pub fn directives(doc: &ExecutableDocument) -> usize {
    fields(doc).iter().map(|f| f.directives.len()).max().unwrap_or(0)
}

/// The earliest `effectiveAt` the request carries anywhere — in an
/// argument literal of any field, or in any variable — as written (an
/// unparsable one is left to the executor, which refuses it).
pub fn earliest_effective_at(doc: &ExecutableDocument, variables: &Variables) -> Option<chrono::DateTime<chrono::Utc>> {
    const KEY: &str = "effectiveAt";
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc());
    let mut found: Vec<chrono::DateTime<chrono::Utc>> = Vec::new();
    for field in fields(doc) {
        let mut stack: Vec<&Value> = field.arguments.iter().map(|(_, v)| &v.node).collect();
        while let Some(v) = stack.pop() {
            match v {
                Value::List(items) => stack.extend(items),
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            (KEY, Value::String(s)) => found.extend(parse(s)),
                            _ => stack.push(v),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut stack: Vec<&ConstValue> = variables.values().collect();
    while let Some(v) = stack.pop() {
        match v {
            ConstValue::List(items) => stack.extend(items),
            ConstValue::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        (KEY, ConstValue::String(s)) => found.extend(parse(s)),
                        _ => stack.push(v),
                    }
                }
            }
            _ => {}
        }
    }
    found.into_iter().min()
}

/// The number of aliased fields in the document.
pub fn aliases(doc: &ExecutableDocument) -> usize {
    fields(doc).iter().filter(|f| f.alias.is_some()).count()
}

/// The name of the first argument or variable whose text (a string or an
/// object key, at any depth) contains U+0000, which PostgreSQL text cannot
/// hold: such a request is refused whole, before anything runs, the same
/// way on every backend.
pub fn nul_text(doc: &ExecutableDocument, variables: &Variables) -> Option<String> {
    for field in fields(doc) {
        let directives = field.directives.iter().flat_map(|d| &d.node.arguments);
        for (name, value) in field.arguments.iter().chain(directives) {
            if value_holds_nul(&value.node) {
                return Some(format!("argument `{}` of `{}`", name.node, field.name.node));
            }
        }
    }
    for (_, op) in doc.operations.iter() {
        for var in &op.node.variable_definitions {
            if var
                .node
                .default_value
                .as_ref()
                .is_some_and(|v| const_holds_nul(&v.node))
            {
                return Some(format!("the default of variable `${}`", var.node.name.node));
            }
        }
    }
    variables
        .iter()
        .find(|(name, value)| name.contains('\0') || const_holds_nul(value))
        .map(|(name, _)| format!("variable `${}`", name.as_str().replace('\0', "\\u0000")))
}

fn value_holds_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::List(items) => stack.extend(items),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

fn const_holds_nul(value: &ConstValue) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            ConstValue::String(s) if s.contains('\0') => return true,
            ConstValue::List(items) => stack.extend(items),
            ConstValue::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn doc(query: &str) -> ExecutableDocument {
        parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    #[test]
    fn a_fragment_chain_far_deeper_than_any_stack_is_walked() {
        let n = 200_000;
        let mut q = String::from("query { ...F0 } ");
        for i in 0..n {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }} ", i + 1));
        }
        q.push_str(&format!("fragment F{n} on Query {{ deposit }}"));
        let d = doc(&q);
        let (_, op) = d.operations.iter().next().unwrap_or_else(|| panic!("no operation"));
        assert_eq!(root_fields(&d, &op.node), vec![Some("deposit")]);
    }

    #[test]
    fn cycles_and_unknown_fragments_end_the_walk() {
        let d = doc("{ a ...A ...Missing } fragment A on Q { b ...B } fragment B on Q { c ...A }");
        let (_, op) = d.operations.iter().next().unwrap_or_else(|| panic!("no operation"));
        let mut fields = root_fields(&d, &op.node);
        fields.sort();
        assert_eq!(fields, vec![None, Some("a"), Some("b"), Some("c")]);
    }

    #[test]
    fn nesting_counts_fields_fragments_and_spreads_once_each_and_finds_cycles() {
        let d = doc("{ a { b { c } } ...F } fragment F on Q { ... on Q { d { e } } }");
        let (_, op) = d.operations.iter().next().unwrap();
        assert_eq!(nesting(&d, &op.node), Ok(3));
        let d = doc("{ ...A } fragment A on Q { ...B } fragment B on Q { x ...A }");
        let (_, op) = d.operations.iter().next().unwrap();
        assert!(nesting(&d, &op.node).is_err());
        let mut q = String::from("query { ...F0 } ");
        for i in 0..50_000 {
            q.push_str(&format!("fragment F{i} on Query {{ ...F{} }} ", i + 1));
        }
        q.push_str("fragment F50000 on Query { x }");
        let d = doc(&q);
        let (_, op) = d.operations.iter().next().unwrap();
        assert_eq!(nesting(&d, &op.node), Ok(50_001));
    }

    #[test]
    fn aliases_are_counted_in_operations_fragments_and_inline_fragments() {
        let d = doc("{ a: x b: x ...F ... on Q { c: x { d: y } } } fragment F on Q { e: x }");
        assert_eq!(aliases(&d), 5);
    }

    #[test]
    fn nul_is_found_in_nested_literals_defaults_and_variables() {
        let vars = Variables::default();
        assert!(nul_text(&doc(r#"{ a(x: "ok", y: [{ z: "fine" }]) }"#), &vars).is_none());
        let found = nul_text(&doc(r#"{ a(x: [{ z: "bad\u0000" }]) }"#), &vars);
        assert_eq!(found.as_deref(), Some("argument `x` of `a`"));
        let found = nul_text(&doc(r#"query($v: String = "\u0000") { a }"#), &vars);
        assert_eq!(found.as_deref(), Some("the default of variable `$v`"));
        let vars = Variables::from_json(serde_json::json!({ "v": { "k\u{0}": 1 } }));
        assert_eq!(nul_text(&doc("{ a }"), &vars).as_deref(), Some("variable `$v`"));
    }
}
