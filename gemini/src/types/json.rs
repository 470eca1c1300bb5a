//! How the types read and write proto JSON where serde's derive alone would be stricter than
//! the API's JSON, or would write a key twice: `null` for any field (proto JSON's "the
//! default"), integers written as strings, and `extra` keys that name a typed field.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serializer};
use serde_json::{Map, Value};
use std::str::FromStr;

/// A field written as `null` is its default, as in proto JSON (for `Vec`, `String` and other
/// non-`Option` fields; an `Option` reads `null` as `None` by itself).
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A number, or the same number written as a string (proto JSON parsers take both for every
/// integer type).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString<T> {
    Number(T),
    Text(String),
}

impl<T: FromStr> NumberOrString<T> {
    fn value<E: serde::de::Error>(self) -> Result<T, E> {
        match self {
            NumberOrString::Number(n) => Ok(n),
            NumberOrString::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("`{t}` is not an integer in range"))),
        }
    }
}

/// An optional counter: a number or a string, `null` for none.
pub(crate) fn count<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr,
{
    Option::<NumberOrString<T>>::deserialize(d)?
        .map(NumberOrString::value)
        .transpose()
}

/// A counter with a default: a number or a string, `null` for the default.
pub(crate) fn count_or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + FromStr + Default,
{
    count(d).map(Option::unwrap_or_default)
}

/// A type that keeps the fields it does not name in an `extra` map.
pub(crate) trait Extra: DeserializeOwned {
    /// The fields this type does not name.
    fn extra(&self) -> &Map<String, Value>;
}

/// Writes the `extra` map of a `T` without the keys that name one of `T`'s typed fields, so
/// that no key is written twice: the typed field wins.
///
/// Whether a key is typed is asked of `T`'s own `Deserialize` (`{key: null}` is read, and the
/// key is typed when it does not land in `extra`), so no list of field names can fall out of
/// step with the struct. That costs one small decoding per `extra` key written; an empty
/// `extra` (the usual case) costs nothing.
pub(crate) fn without_typed<T: Extra, S: Serializer>(
    extra: &Map<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(extra.iter().filter(|(key, _)| !is_typed::<T>(key)))
}

fn is_typed<T: Extra>(key: &str) -> bool {
    let mut probe = Map::new();
    probe.insert(key.to_owned(), Value::Null);
    match serde_json::from_value::<T>(Value::Object(probe)) {
        Ok(decoded) => !decoded.extra().contains_key(key),
        // An unknown key always lands in `extra`; only a typed field can refuse `null`.
        Err(_) => true,
    }
}

/// Implements [`Extra`] for types with a public `extra` field.
macro_rules! impl_extra {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::types::json::Extra for $t {
            fn extra(&self) -> &Map<String, Value> {
                &self.extra
            }
        })*
    };
}
pub(crate) use impl_extra;
