//! `SESSION_SERIALIZER`: encoding and decoding a typical logged-in member's session, as JSON
//! and as MessagePack. Run with `cargo bench --bench session_serializers`.

mod common;

use std::hint::black_box;

use actix_session_engines::SessionSerializer;
use criterion::{Criterion, criterion_group, criterion_main};

fn serializers(c: &mut Criterion) {
    let state = common::member_session();
    for (name, serializer) in [
        ("json", SessionSerializer::Json),
        ("msgpack", SessionSerializer::MessagePack),
    ] {
        let stored = serializer.encode(&state).expect("the session encodes");
        println!("{name}: a typical member session is {} bytes", stored.len());
        let mut group = c.benchmark_group(format!("serializer/{name}"));
        group.bench_function("encode", |b| {
            b.iter(|| serializer.encode(black_box(&state)).unwrap());
        });
        group.bench_function("decode", |b| {
            b.iter(|| SessionSerializer::decode(black_box(&stored)).unwrap());
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::short_runs();
    targets = serializers
}
criterion_main!(benches);
