//! Against the real Gemini API, only when `GEMINI_API_KEY` is set (never in CI). Without the
//! variable, the test says so and checks nothing else.

#![allow(clippy::unwrap_used)]

use steadfast_gemini::Client;

#[tokio::test]
async fn generate_and_list_against_the_real_api() {
    if std::env::var("GEMINI_API_KEY").is_err() {
        eprintln!("GEMINI_API_KEY is not set: the real API is not called");
        return;
    }
    let client = Client::from_env().unwrap();
    let text = client
        .generate("gemini-2.5-flash", "Reply with the single word: pong")
        .await
        .unwrap();
    assert!(text.to_lowercase().contains("pong"), "{text}");
    let model = client.get_model("gemini-2.5-flash").await.unwrap();
    assert!(model.input_token_limit.unwrap_or(0) > 0);
}
