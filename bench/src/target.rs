//! Where the Confab under test answers: what every scenario takes.

/// Where the Confab under test answers.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Base URL of a node or of the gateway (`http://host:port`). Repeat it
    /// to spread users over several nodes: users alternate between them, so
    /// with two nodes every direct pair crosses nodes.
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    pub urls: Vec<url::Url>,

    /// A free-form label kept in the JSON and shown in the report.
    #[arg(long)]
    pub label: Option<String>,

    /// Report the message waterfall: each stage's p50 and p99 after the
    /// node read the `send`, from the nodes' (`--url`) and dispatchers'
    /// (`--dispatcher-metrics`) own stage histograms, this run's share.
    /// `--url` must then name nodes, not the gateway.
    #[arg(long)]
    pub stages: bool,

    /// Where each dispatcher serves `/metrics` (its `HEALTH_ADDR`), for
    /// `--stages`.
    #[arg(long = "dispatcher-metrics", default_value = "http://127.0.0.1:19100")]
    pub dispatchers: Vec<url::Url>,
}

impl Target {
    /// One node or gateway at `url`.
    pub fn single(url: url::Url) -> Self {
        Self {
            urls: vec![url],
            label: None,
            stages: false,
            dispatchers: Vec::new(),
        }
    }
}
