//! Shared strategies for the property tests beside the parsers, and request heads for the
//! unit tests.

use http::request::Parts;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

/// Any JSON value, nested a few levels, whose object keys and strings are often one of `names`
/// (so that the parser under test meets the members it looks for, with any type) and otherwise
/// short random text.
pub(crate) fn json_with_names(names: &'static [&'static str]) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(names).prop_map(Value::from),
        ".{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((member_name(names), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One of `names`, or a short random name.
pub(crate) fn member_name(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![select(names).prop_map(String::from), "[a-z0-9~/]{0,4}"]
}

/// The head of a request with `headers`.
pub(crate) fn parts(headers: &[(&str, &str)]) -> Parts {
    let mut builder = http::Request::builder();
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).expect("request").into_parts().0
}
