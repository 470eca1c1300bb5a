//! Enums of the API that keep unknown values instead of failing.

/// Declares a string enum whose unknown values decode to `Other(String)` and encode back as
/// they came.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this crate does not know yet, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as the API writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($name::from(s.as_ref()))
            }
        }
    };
}

open_enum! {
    /// Why generation stopped.
    FinishReason {
        /// A natural stop or a stop sequence.
        Stop = "STOP",
        /// The output token limit.
        MaxTokens = "MAX_TOKENS",
        /// Safety filters.
        Safety = "SAFETY",
        /// Recitation of training data.
        Recitation = "RECITATION",
        /// Unsupported language.
        Language = "LANGUAGE",
        /// Blocklisted terms.
        Blocklist = "BLOCKLIST",
        /// Prohibited content.
        ProhibitedContent = "PROHIBITED_CONTENT",
        /// Personal identifiable information.
        Spii = "SPII",
        /// A malformed function call.
        MalformedFunctionCall = "MALFORMED_FUNCTION_CALL",
        /// Unspecified.
        Unspecified = "FINISH_REASON_UNSPECIFIED",
        /// Another reason the API calls `OTHER`.
        OtherReason = "OTHER",
    }
}

open_enum! {
    /// Why a prompt was blocked.
    BlockReason {
        /// Safety filters.
        Safety = "SAFETY",
        /// Blocklisted terms.
        Blocklist = "BLOCKLIST",
        /// Prohibited content.
        ProhibitedContent = "PROHIBITED_CONTENT",
        /// Image safety filters.
        ImageSafety = "IMAGE_SAFETY",
        /// Unspecified.
        Unspecified = "BLOCK_REASON_UNSPECIFIED",
        /// Another reason the API calls `OTHER`.
        OtherReason = "OTHER",
    }
}

open_enum! {
    /// A harm category.
    HarmCategory {
        /// Harassment.
        Harassment = "HARM_CATEGORY_HARASSMENT",
        /// Hate speech.
        HateSpeech = "HARM_CATEGORY_HATE_SPEECH",
        /// Sexually explicit content.
        SexuallyExplicit = "HARM_CATEGORY_SEXUALLY_EXPLICIT",
        /// Dangerous content.
        DangerousContent = "HARM_CATEGORY_DANGEROUS_CONTENT",
        /// Civic integrity.
        CivicIntegrity = "HARM_CATEGORY_CIVIC_INTEGRITY",
    }
}

open_enum! {
    /// How likely content is harmful.
    HarmProbability {
        /// Negligible.
        Negligible = "NEGLIGIBLE",
        /// Low.
        Low = "LOW",
        /// Medium.
        Medium = "MEDIUM",
        /// High.
        High = "HIGH",
    }
}

open_enum! {
    /// When to block content.
    HarmBlockThreshold {
        /// Low and above.
        BlockLowAndAbove = "BLOCK_LOW_AND_ABOVE",
        /// Medium and above.
        BlockMediumAndAbove = "BLOCK_MEDIUM_AND_ABOVE",
        /// Only high.
        BlockOnlyHigh = "BLOCK_ONLY_HIGH",
        /// Never block.
        BlockNone = "BLOCK_NONE",
        /// Turn the filter off.
        Off = "OFF",
    }
}

open_enum! {
    /// Function-calling mode.
    FunctionCallingMode {
        /// The model decides.
        Auto = "AUTO",
        /// The model must call a function.
        Any = "ANY",
        /// No function calls.
        None = "NONE",
    }
}

open_enum! {
    /// How executed code ended.
    Outcome {
        /// It succeeded.
        Ok = "OUTCOME_OK",
        /// It failed.
        Failed = "OUTCOME_FAILED",
        /// It ran out of time.
        DeadlineExceeded = "OUTCOME_DEADLINE_EXCEEDED",
    }
}

open_enum! {
    /// What an embedding is for.
    TaskType {
        /// A query for retrieval.
        RetrievalQuery = "RETRIEVAL_QUERY",
        /// A document for retrieval.
        RetrievalDocument = "RETRIEVAL_DOCUMENT",
        /// Semantic similarity.
        SemanticSimilarity = "SEMANTIC_SIMILARITY",
        /// Classification.
        Classification = "CLASSIFICATION",
        /// Clustering.
        Clustering = "CLUSTERING",
    }
}

open_enum! {
    /// A kind of content: the modality of a token count, or an output the model may produce
    /// (`responseModalities`).
    Modality {
        /// Unspecified.
        Unspecified = "MODALITY_UNSPECIFIED",
        /// Text.
        Text = "TEXT",
        /// Images.
        Image = "IMAGE",
        /// Video.
        Video = "VIDEO",
        /// Audio.
        Audio = "AUDIO",
        /// Documents (PDF).
        Document = "DOCUMENT",
    }
}

open_enum! {
    /// How much a model thinks (`thinkingConfig.thinkingLevel`, for models that take a level
    /// rather than a budget).
    ThinkingLevel {
        /// Unspecified: the model's default.
        Unspecified = "THINKING_LEVEL_UNSPECIFIED",
        /// As little as possible.
        Minimal = "MINIMAL",
        /// Low latency and cost.
        Low = "LOW",
        /// Between low and high.
        Medium = "MEDIUM",
        /// The most reasoning.
        High = "HIGH",
    }
}

open_enum! {
    /// Whether the `urlContext` tool could fetch a URL.
    UrlRetrievalStatus {
        /// Unspecified.
        Unspecified = "URL_RETRIEVAL_STATUS_UNSPECIFIED",
        /// Fetched.
        Success = "URL_RETRIEVAL_STATUS_SUCCESS",
        /// Not fetched.
        Error = "URL_RETRIEVAL_STATUS_ERROR",
        /// Behind a paywall.
        Paywall = "URL_RETRIEVAL_STATUS_PAYWALL",
        /// Unsafe content.
        Unsafe = "URL_RETRIEVAL_STATUS_UNSAFE",
    }
}

open_enum! {
    /// Where an uploaded file is in its processing.
    FileState {
        /// Unspecified.
        Unspecified = "STATE_UNSPECIFIED",
        /// Being processed (a video, for a while after its upload): not usable in a prompt yet.
        Processing = "PROCESSING",
        /// Ready to use in a prompt.
        Active = "ACTIVE",
        /// Processing failed (see [`File::error`](super::File::error)).
        Failed = "FAILED",
    }
}

open_enum! {
    /// Where a file comes from.
    FileSource {
        /// Unspecified.
        Unspecified = "SOURCE_UNSPECIFIED",
        /// Uploaded by a user.
        Uploaded = "UPLOADED",
        /// Generated by the API.
        Generated = "GENERATED",
        /// Registered from Cloud Storage.
        Registered = "REGISTERED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip() {
        let r: FinishReason = serde_json::from_str("\"NEW_REASON\"").unwrap();
        assert_eq!(r, FinishReason::Other("NEW_REASON".into()));
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"NEW_REASON\"");
        assert_eq!(
            serde_json::from_str::<FinishReason>("\"OTHER\"").unwrap(),
            FinishReason::OtherReason
        );
    }
}
