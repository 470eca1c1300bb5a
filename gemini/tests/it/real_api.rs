//! Against the real Gemini API: opt-in (`GEMINI_API_KEY=… cargo test -p steadfast-gemini --test
//! it real_api -- --ignored`), never in CI. Run without the variable, it fails and says why.

#![allow(clippy::unwrap_used)]

use steadfast_gemini::Client;

#[tokio::test]
#[ignore = "calls the real Gemini API: needs GEMINI_API_KEY"]
async fn generate_and_list_against_the_real_api() {
    let client = Client::from_env()
        .unwrap_or_else(|e| panic!("this test calls the real API and needs GEMINI_API_KEY: {e}"));
    let text = client
        .generate("gemini-2.5-flash", "Reply with the single word: pong")
        .await
        .unwrap();
    assert!(text.to_lowercase().contains("pong"), "{text}");
    let model = client.get_model("gemini-2.5-flash").await.unwrap();
    assert!(model.input_token_limit.unwrap_or(0) > 0);
}
