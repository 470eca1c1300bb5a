//! files_cache: upload a document once, ask about it, then cache it and ask again for less.
//!
//! A long document sent with every prompt is paid for with every prompt. The Files API keeps it
//! on the server (48 hours) and a prompt refers to it by URI; a cached content goes further: the
//! document (and a system instruction) is stored as a prefix of prompts, and each request that
//! names the cache pays its tokens at the cached rate (`usageMetadata.cachedContentTokenCount`).
//! The example uploads a manual, asks about it, caches it for ten minutes, asks three questions
//! through the cache, shortens the cache's life to a moment and shows that it is then gone (a
//! typed 403, as the real service answers), and deletes the file.
//!
//! Every call goes through the client policy (retries, key pool, deadline), and the key never
//! appears in a URL: not even in the upload URL the server hands back.
//!
//! Run: `cargo run -p steadfast-examples --example files_cache` (the real API with
//! GEMINI_API_KEY; `STEADFAST_QUICK=1` for shorter waits).

use futures_util::StreamExt;
use std::time::Duration;
use steadfast_gemini::types::{CachedContent, Content, GenerateContentRequest, Part};
use steadfast_gemini::{Client, ErrorKind};
use steadfast_sim::{Simulator, SimulatorConfig};

const MODEL: &str = "gemini-2.5-flash";

/// A manual long enough to cache (the real minimum is 1 024 tokens).
fn manual() -> String {
    let topics = [
        "boiler", "valve", "pump", "filter", "sensor", "panel", "fan", "relay",
    ];
    (1..=60)
        .map(|i| {
            let t = topics[i % topics.len()];
            format!(
                "Section {i}. The {t} of unit {i} is checked every {} days; reset it with switch {} \
                 and log the pressure reading, the date, and the name of the technician on duty.\n",
                i % 9 + 1,
                i % 4 + 1
            )
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    steadfast_examples::show_events();
    let mut _simulator = None;
    let client = if let Ok(key) = std::env::var("GEMINI_API_KEY") {
        println!("Using the real Gemini API.");
        Client::builder().key(key).build()?
    } else {
        println!("Using the local Gemini simulator.");
        let sim = Simulator::start(SimulatorConfig::default()).await?;
        let client =
            steadfast_examples::sim_client(&sim, steadfast_gemini::ClientPolicy::default())?;
        _simulator = Some(sim);
        client
    };

    // 1. Upload once (resumable protocol, 8 MiB chunks).
    let text = manual();
    let file = client
        .upload_file("text/plain", text.into_bytes(), Some("maintenance manual"))
        .await?;
    println!(
        "uploaded {} ({} bytes, {}), kept until {}",
        file.name,
        file.size_bytes.unwrap_or(0),
        file.state
            .as_ref()
            .map_or("?".to_owned(), ToString::to_string),
        file.expiration_time.as_deref().unwrap_or("?")
    );
    let listed = client.list_files().collect::<Vec<_>>().await;
    println!("files of this project: {}", listed.len());

    // 2. Ask about it by reference.
    let mut ask = GenerateContentRequest::prompt("How often is the pump of unit 3 checked?");
    ask.contents[0].parts.insert(0, file.part());
    let answer = client.generate_content(MODEL, &ask).await?;
    let usage = answer.usage_metadata.clone().unwrap_or_default();
    println!(
        "with the file: {} prompt tokens, none cached\n  answer: {}",
        usage.prompt_token_count.unwrap_or(0),
        answer.text().trim()
    );

    // 3. Cache it, with the instruction that goes with it.
    let cache = client
        .create_cached_content(
            &CachedContent::new(
                MODEL,
                vec![Content {
                    role: Some("user".into()),
                    parts: vec![file.part()],
                    ..Content::default()
                }],
            )
            .with_system_instruction(Content::system("Answer from the maintenance manual only."))
            .with_display_name("manual")
            .with_ttl(Duration::from_secs(600)),
        )
        .await?;
    let cache_name = cache.name.clone().unwrap_or_default();
    println!(
        "cached {cache_name}: {} tokens, expires {}",
        cache
            .usage_metadata
            .as_ref()
            .and_then(|u| u.total_token_count)
            .unwrap_or(0),
        cache.expire_time.as_deref().unwrap_or("?")
    );

    // 4. Questions through the cache: only the question is new.
    for question in [
        "Which switch resets the valve of unit 6?",
        "What must be logged after a reset?",
        "How often is the fan of unit 14 checked?",
    ] {
        let mut request = GenerateContentRequest::prompt(question);
        request.cached_content = Some(cache_name.clone());
        let answer = client.generate_content(MODEL, &request).await?;
        let usage = answer.usage_metadata.clone().unwrap_or_default();
        println!(
            "through the cache: {} prompt tokens, {} of them cached\n  answer: {}",
            usage.prompt_token_count.unwrap_or(0),
            usage.cached_content_token_count.unwrap_or(0),
            answer.text().trim()
        );
    }

    // 5. A cache lives until its expiry: shorten it, and it is gone for reads and for use.
    let moment = if steadfast_examples::quick() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let updated = client
        .update_cached_content_ttl(&cache_name, moment)
        .await?;
    println!(
        "cache now expires {}; waiting {moment:?}",
        updated.expire_time.as_deref().unwrap_or("?")
    );
    tokio::time::sleep(moment + Duration::from_millis(300)).await;
    let mut late = GenerateContentRequest::prompt("Still there?");
    late.cached_content = Some(cache_name.clone());
    match client.generate_content(MODEL, &late).await {
        Err(e) if *e.kind() == ErrorKind::PermissionDenied => {
            println!("after expiry: {e}");
        }
        Err(e) => return Err(e.into()),
        Ok(_) => println!("after expiry: the cache still answered (the service drops it lazily)"),
    }
    // On the real API the cache may outlive its expiry for a moment; delete it to be sure.
    if let Err(e) = client.delete_cached_content(&cache_name).await {
        println!("deleting the cache: {}", e.kind().name());
    }

    // 6. Delete the file; the name is then unknown.
    client.delete_file(&file.name).await?;
    match client.get_file(&file.name).await {
        Err(e) => println!(
            "after delete: {} ({})",
            e.kind().name(),
            e.http_status().unwrap_or(0)
        ),
        Ok(_) => println!("after delete: the file is still listed"),
    }
    // Inline bytes need no upload: a small image or PDF can travel in the request itself.
    let inline = Part::inline_bytes("text/plain", b"a short note");
    println!(
        "inline data for small files: {} base64 characters",
        inline.inline_data.map(|b| b.data.len()).unwrap_or(0)
    );
    Ok(())
}
