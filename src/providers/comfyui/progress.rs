//! One overall percent for a ComfyUI run, from its per-node events.
//!
//! ComfyUI reports progress per node (`progress` is the sampler's step count), and
//! a single sampler's `value/max` jumps back to 0 when the next sampler starts. The caller
//! wants one number that only goes up, so each node of the submitted graph gets a weight
//! (a sampler its `steps`, which is where the time goes; configured classes their own; others
//! 1), and the percent is the weight of finished nodes plus the running node's fraction of
//! its own. A node is finished when it is cached, when `progress_state` says so, when it
//! sends `executed`, or when the next node starts. The value is held below 100 until the run
//! ends, since nodes that never run (not needed for an output) still count in the total.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Weight of a sampler whose `steps` is not a literal number.
const DEFAULT_SAMPLER_STEPS: f64 = 20.0;
/// Highest percent before the run has ended.
const BEFORE_END: f32 = 99.0;

#[derive(Debug, Clone)]
pub struct RunProgress {
    weights: BTreeMap<String, f64>,
    classes: BTreeMap<String, String>,
    total: f64,
    done: BTreeSet<String>,
    current: Option<(String, f64)>,
    reported: f32,
    finished: bool,
}

impl RunProgress {
    /// Weights every node of `graph`; `overrides` maps a `class_type` to its weight.
    pub fn new(graph: &Map<String, Value>, overrides: &BTreeMap<String, f64>) -> Self {
        let mut weights = BTreeMap::new();
        let mut classes = BTreeMap::new();
        for (id, node) in graph {
            let class = node
                .get("class_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let weight = overrides.get(class).copied().unwrap_or_else(|| {
                if class.contains("Sampler") {
                    node.pointer("/inputs/steps")
                        .and_then(Value::as_f64)
                        .unwrap_or(DEFAULT_SAMPLER_STEPS)
                        .max(1.0)
                } else {
                    1.0
                }
            });
            weights.insert(id.clone(), weight);
            classes.insert(id.clone(), class.to_owned());
        }
        let total = weights.values().sum::<f64>().max(f64::EPSILON);
        RunProgress {
            weights,
            classes,
            total,
            done: BTreeSet::new(),
            current: None,
            reported: 0.0,
            finished: false,
        }
    }

    /// Nodes ComfyUI skipped because their outputs were cached.
    pub fn cached<'a>(&mut self, nodes: impl IntoIterator<Item = &'a str>) {
        for node in nodes {
            self.finish_node(node);
        }
    }

    /// A node started (`executing`); the one before it is finished.
    pub fn executing(&mut self, node: &str) {
        self.start(node);
    }

    /// `progress {value, max, node}`.
    pub fn step(&mut self, node: &str, value: f64, max: f64) {
        self.start(node);
        if let Some((_, fraction)) = &mut self.current
            && max > 0.0
        {
            *fraction = (value / max).clamp(0.0, 1.0);
        }
    }

    /// One node of `progress_state`.
    pub fn node_state(&mut self, node: &str, state: &str, value: f64, max: f64) {
        match state {
            "finished" => self.finish_node(node),
            "running" => self.step(node, value, max),
            _ => {}
        }
    }

    /// `executed`: the node produced its UI output.
    pub fn executed(&mut self, node: &str) {
        self.finish_node(node);
    }

    /// The run ended well: 100.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The overall percent, never lower than one reported before.
    pub fn percent(&mut self) -> f32 {
        let percent = if self.finished {
            100.0
        } else {
            let done: f64 = self.done.iter().filter_map(|id| self.weights.get(id)).sum();
            let running = self.current.as_ref().map_or(0.0, |(id, fraction)| {
                self.weights.get(id).copied().unwrap_or(0.0) * fraction
            });
            ((done + running) / self.total * 100.0).min(f64::from(BEFORE_END)) as f32
        };
        self.reported = self.reported.max(percent);
        self.reported
    }

    /// What the run is doing, in words for the caller.
    pub fn stage(&self) -> String {
        if self.finished {
            return "finished".to_owned();
        }
        let Some((id, _)) = &self.current else {
            return "starting".to_owned();
        };
        let class = self.classes.get(id).map(String::as_str).unwrap_or_default();
        stage_of(class).to_owned()
    }

    fn start(&mut self, node: &str) {
        if self.current.as_ref().is_some_and(|(id, _)| id == node) {
            return;
        }
        if let Some((previous, _)) = self.current.take() {
            self.done.insert(previous);
        }
        if !self.done.contains(node) {
            self.current = Some((node.to_owned(), 0.0));
        }
    }

    fn finish_node(&mut self, node: &str) {
        if self.current.as_ref().is_some_and(|(id, _)| id == node) {
            self.current = None;
        }
        self.done.insert(node.to_owned());
    }
}

/// A stage name from a node's class: the few that matter get words, the rest their class.
fn stage_of(class: &str) -> &str {
    if class.contains("Sampler") {
        "sampling"
    } else if class.contains("Loader") {
        "loading models"
    } else if class.contains("TextEncode") {
        "encoding prompt"
    } else if class.starts_with("VAEDecode") {
        "decoding"
    } else if class.starts_with("VAEEncode") || class == "LoadImage" || class == "ImageScale" {
        "preparing reference"
    } else if class.starts_with("Save") || class.starts_with("Preview") {
        "saving"
    } else if class.is_empty() {
        "running"
    } else {
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::comfyui::template::{Fill, Workflow};

    fn default_graph() -> Map<String, Value> {
        Workflow::embedded_text_to_image().render(&Fill {
            prompt: "p",
            negative_prompt: "",
            seed: 1,
            width: 512,
            height: 512,
            batch_size: 1,
            checkpoint: "c",
            reference_image: None,
        })
    }

    #[test]
    fn the_sampler_dominates_and_percent_only_goes_up() {
        // 7 nodes: the sampler weighs 20 steps, the 6 others 1 each.
        let mut run = RunProgress::new(&default_graph(), &BTreeMap::new());
        run.cached(["4", "6", "7"]);
        let after_cache = run.percent();
        assert!(
            (after_cache - 3.0 / 26.0 * 100.0).abs() < 0.01,
            "{after_cache}"
        );
        run.executing("5");
        run.executing("3");
        assert_eq!(run.stage(), "sampling");
        let mut last = run.percent();
        for step in 1..=20 {
            run.step("3", f64::from(step), 20.0);
            let now = run.percent();
            assert!(now >= last);
            last = now;
        }
        // A second pass of the same sampler (a hires fix) would restart at 0: no drop.
        run.step("3", 1.0, 20.0);
        assert!(run.percent() >= last);
        run.executing("8");
        assert_eq!(run.stage(), "decoding");
        run.executed("9");
        assert!(run.percent() < 100.0);
        run.finish();
        assert_eq!(run.percent(), 100.0);
    }

    #[test]
    fn progress_state_finishes_nodes_and_weights_can_be_configured() {
        let overrides = BTreeMap::from([("CheckpointLoaderSimple".to_owned(), 20.0)]);
        let mut run = RunProgress::new(&default_graph(), &overrides);
        run.node_state("4", "running", 0.0, 1.0);
        assert_eq!(run.stage(), "loading models");
        run.node_state("4", "finished", 1.0, 1.0);
        // 20 of 45.
        assert!((run.percent() - 20.0 / 45.0 * 100.0).abs() < 0.01);
    }
}
