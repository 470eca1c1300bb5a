//! Generated content: values that validate against a response schema or a function's
//! parameters, embeddings, and response ids. Everything is a pure function of the simulator's
//! seed and the request, so the same request always gets the same answer.

use serde_json::{Map, Value, json};
use steadfast::retry::Random;

/// FNV-1a: a stable hash for seeding (std's hasher is randomised per process).
pub(super) fn fnv(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A generator seeded by the simulator's seed and `text`.
pub(super) fn random_for(seed: u64, text: &str) -> Random {
    Random::seeded(seed ^ fnv(&[text.as_bytes()]))
}

const WORDS: [&str; 12] = [
    "alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris", "juniper",
    "kestrel", "lumen",
];

fn pick(random: &mut Random, n: usize) -> usize {
    (random.next_u64() % n.max(1) as u64) as usize
}

/// How deep a schema is followed (a recursive `$ref` ends here with `null`).
const MAX_DEPTH: usize = 8;

/// A value that validates against `schema`, in either dialect the API accepts: the OpenAPI
/// subset of `responseSchema` / `parameters` (`"type": "OBJECT"`, `nullable`,
/// `propertyOrdering`) or the JSON Schema of `responseJsonSchema` / `parametersJsonSchema`
/// (`"type": "object"`, `$ref` into `$defs`, `anyOf`, `const`, `enum`, bounds).
pub(super) fn from_schema(schema: &Value, random: &mut Random) -> Value {
    let mut budget = MAX_NODES;
    generate(schema, schema, random, 0, &mut budget)
}

/// The most values one generated answer holds, and the most items of one array: a schema
/// asking for more (`minItems: 1e12`, arrays nested in arrays) gets fewer, not an answer too
/// large for memory.
const MAX_NODES: usize = 10_000;
const MAX_ITEMS: usize = 100;

fn generate(
    schema: &Value,
    root: &Value,
    random: &mut Random,
    depth: usize,
    budget: &mut usize,
) -> Value {
    if depth > MAX_DEPTH || *budget == 0 {
        return Value::Null;
    }
    *budget -= 1;
    let Value::Object(s) = schema else {
        // `true` or an empty schema: anything goes.
        return json!("sim");
    };
    if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix("#/")
            .map(|path| {
                path.split('/')
                    .try_fold(root, |node, key| node.get(key))
                    .unwrap_or(&Value::Null)
            })
            .unwrap_or(&Value::Null);
        return generate(target, root, random, depth + 1, budget);
    }
    if let Some(value) = s.get("const") {
        return value.clone();
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.is_empty() {
            return options[pick(random, options.len())].clone();
        }
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(options)) = s.get(combinator) {
            let chosen = options
                .iter()
                .find(|o| type_of(o).as_deref() != Some("null"))
                .or(options.first());
            if let Some(chosen) = chosen {
                return generate(chosen, root, random, depth + 1, budget);
            }
        }
    }
    let kind = type_of(schema).unwrap_or_else(|| {
        if s.contains_key("properties") {
            "object".into()
        } else if s.contains_key("items") {
            "array".into()
        } else {
            "string".into()
        }
    });
    let number = |name: &str| s.get(name).and_then(Value::as_f64);
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            let properties = s.get("properties").and_then(Value::as_object);
            // The OpenAPI dialect's `propertyOrdering` first, then the rest in order.
            let mut names: Vec<&str> = s
                .get("propertyOrdering")
                .and_then(Value::as_array)
                .map(|o| o.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in properties.into_iter().flat_map(|p| p.keys()) {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
            for name in names {
                if let Some(property) = properties.and_then(|p| p.get(name)) {
                    out.insert(
                        name.to_owned(),
                        generate(property, root, random, depth + 1, budget),
                    );
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = number("minItems").unwrap_or(1.0).max(0.0) as usize;
            let max = number("maxItems").map_or(usize::MAX, |m| m.max(0.0) as usize);
            let n = 2usize.max(min).min(max).min(MAX_ITEMS);
            let items = s.get("items").unwrap_or(&Value::Null);
            let mut out = Vec::with_capacity(n.min(16));
            for _ in 0..n {
                if *budget == 0 {
                    break;
                }
                out.push(generate(items, root, random, depth + 1, budget));
            }
            Value::Array(out)
        }
        "integer" => {
            // In i128: a schema's bounds may be anywhere in i64, and their span past it.
            let low = number("minimum").map_or(0, |m| i128::from(m.ceil() as i64));
            let high = number("maximum").map_or(low + 100, |m| i128::from(m.floor() as i64));
            let span = (high - low).max(0) + 1;
            let x = low + i128::from(random.next_u64()) % span;
            json!(i64::try_from(x).unwrap_or(i64::MAX))
        }
        "number" => {
            let low = number("minimum").unwrap_or(0.0);
            let high = number("maximum").unwrap_or(low + 100.0);
            let x = low + random.next_f64() * (high - low).max(0.0);
            json!((x * 100.0).round() / 100.0)
        }
        "boolean" => json!(random.next_u64() % 2 == 0),
        "null" => Value::Null,
        _ => match s.get("format").and_then(Value::as_str) {
            Some("date-time") => json!("2025-01-01T00:00:00Z"),
            Some("date") => json!("2025-01-01"),
            _ => {
                let word = WORDS[pick(random, WORDS.len())];
                let min = number("minLength").unwrap_or(0.0) as usize;
                let mut text = format!("sim {word}");
                while text.len() < min {
                    text.push('x');
                }
                if let Some(max) = number("maxLength") {
                    text.truncate(max as usize);
                }
                json!(text)
            }
        },
    }
}

/// The schema's type, lowercased; the first non-null one of a list.
fn type_of(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(t) => Some(t.to_ascii_lowercase()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .or_else(|| types.iter().filter_map(Value::as_str).next())
            .map(str::to_ascii_lowercase),
        _ => None,
    }
}

/// An embedding of `dimensions` values for `text`: deterministic, different for different
/// texts, unit length when it has the model's full size (the real API normalises only then).
pub(super) fn embedding(seed: u64, text: &str, dimensions: usize, full: usize) -> Vec<f64> {
    let mut random = random_for(seed, text);
    let mut values: Vec<f64> = (0..full).map(|_| random.next_f64() * 2.0 - 1.0).collect();
    if dimensions >= full {
        let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        for v in &mut values {
            *v /= norm;
        }
    } else {
        values.truncate(dimensions);
        for v in &mut values {
            *v *= 0.05;
        }
    }
    for v in &mut values {
        *v = (*v * 1e6).round() / 1e6;
    }
    values
}

/// A response id shaped like the real ones (22 characters of URL-safe base64).
pub(super) fn response_id(seed: u64, serial: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut random = Random::seeded(seed ^ serial.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    (0..22)
        .map(|_| ALPHABET[pick(&mut random, ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_asking_for_too_much_gets_a_bounded_answer() {
        let mut random = Random::seeded(1);
        let huge = json!({"type": "array", "minItems": 1e12, "items": {"type": "string"}});
        assert_eq!(
            from_schema(&huge, &mut random).as_array().map(Vec::len),
            Some(MAX_ITEMS)
        );
        let nested = json!({"type": "array", "minItems": 100,
            "items": {"type": "array", "minItems": 100,
                "items": {"type": "array", "minItems": 100, "items": {"type": "integer"}}}});
        let answer = from_schema(&nested, &mut random);
        let count = |v: &Value| -> usize {
            fn walk(v: &Value) -> usize {
                1 + v.as_array().map_or(0, |a| a.iter().map(walk).sum())
            }
            walk(v)
        };
        assert!(count(&answer) <= MAX_NODES, "{}", count(&answer));
    }

    fn sample(schema: Value) -> Value {
        from_schema(&schema, &mut Random::seeded(1))
    }

    #[test]
    fn openapi_schemas_give_every_property_in_order() {
        let v = sample(json!({"type": "OBJECT", "properties": {
            "b": {"type": "INTEGER", "minimum": 3, "maximum": 3},
            "a": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["x", "y"]}},
            "c": {"type": "BOOLEAN", "nullable": true}},
            "propertyOrdering": ["a", "b"]}));
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(v["b"], 3);
        assert!(
            v["a"]
                .as_array()
                .unwrap()
                .iter()
                .all(|x| x == "x" || x == "y")
        );
        assert!(v["c"].is_boolean());
    }

    #[test]
    fn json_schemas_follow_refs_and_any_of() {
        let v = sample(json!({
            "$defs": {"Step": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}, "minItems": 3},
                "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 4}]},
                "kind": {"const": "k"},
                "when": {"type": ["string", "null"], "format": "date-time"}
            }
        }));
        assert_eq!(v["steps"].as_array().unwrap().len(), 3);
        assert!(v["steps"][0]["n"].is_i64());
        assert!(v["note"].as_str().unwrap().len() <= 4);
        assert_eq!(v["kind"], "k");
        assert_eq!(v["when"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn a_recursive_schema_ends() {
        let v = sample(
            json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
                              "$ref": "#/$defs/N"}),
        );
        assert!(v.is_object());
    }

    #[test]
    fn embeddings_are_deterministic_sized_and_normalised_at_full_size() {
        let a = embedding(0, "hello", 3072, 3072);
        assert_eq!(a.len(), 3072);
        let norm: f64 = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        assert_eq!(a, embedding(0, "hello", 3072, 3072));
        assert_ne!(a, embedding(0, "bye", 3072, 3072));
        assert_eq!(embedding(0, "hello", 256, 3072).len(), 256);
        assert_eq!(response_id(0, 1).len(), 22);
        assert_ne!(response_id(0, 1), response_id(0, 2));
    }
}
