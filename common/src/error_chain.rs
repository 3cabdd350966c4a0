//! An error with its causes on one line, for logs and recorded failures: connection errors
//! (refused, TLS, DNS) sit deep in the source chain, under a generic top message.

use std::error::Error;

/// `error: cause: cause…`, skipping a cause whose text the line already ends with (some
/// layers repeat their source's message).
pub fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    append_sources(&mut text, error.source());
    text
}

/// Appends `source` and its causes to `text` as in [`error_chain`].
pub fn append_sources(text: &mut String, mut source: Option<&dyn Error>) {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn causes_follow_on_one_line_without_repeats() {
        let e = Layer(
            "request failed",
            Some(Box::new(Layer(
                "connection refused",
                Some(Box::new(Layer("connection refused", None))),
            ))),
        );
        assert_eq!(error_chain(&e), "request failed: connection refused");
    }
}
