//! Steps 4 and 5 of the runner: playing the schedule (sends, partitions, heals, stops,
//! restarts, late joins) and settling, then stopping every node.

use super::*;

impl Runner {
    /// Plays the schedule and measures.
    pub async fn run(mut self) -> anyhow::Result<Observed> {
        let schedule = std::mem::take(&mut self.schedule);
        let group = self.group()?;
        let stats_before = self.net_stats().await;
        let bytes_before = self.net.as_ref().map_or(0, Network::bytes);
        let conns_before = self.net.as_ref().map_or(0, Network::connections);
        let cpu_before = crate::measure::cpu_seconds();
        if let Some(p) = &self.progress {
            p.set_length(schedule.steps.len() as u64);
            p.set_position(0);
            p.set_message("running");
        }
        let start = Instant::now();
        let mut done_log = start;
        let mut sends = Vec::new();
        for (offset, step) in &schedule.steps {
            tokio::time::sleep_until(start + *offset).await;
            match step {
                Step::Send { sender, seq } => {
                    if let Some(task) = self.send(group, *sender, *seq) {
                        sends.push(task);
                    }
                }
                Step::Event(action) => self.apply(action).await?,
            }
            if let Some(p) = &self.progress {
                p.inc(1);
            }
            if done_log.elapsed() >= Duration::from_secs(10) {
                done_log = Instant::now();
                tracing::info!(at_s = offset.as_secs_f64(), "schedule running");
            }
        }
        for task in sends {
            let _ = task.await;
        }
        self.settle().await?;
        let wall = start.elapsed();
        let cpu = crate::measure::cpu_seconds() - cpu_before;
        let wire_bytes = self.net.as_ref().map_or(0, Network::bytes) - bytes_before;
        let connections = self.net.as_ref().map_or(0, Network::connections) - conns_before;
        let stats_after = self.net_stats().await;
        let rss = crate::measure::rss_bytes();
        let mut stores = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let (Some(node), true) = (&n.node, n.member) {
                let ids: Vec<String> = node
                    .history(group, HISTORY_LIMIT, None)
                    .await?
                    .into_iter()
                    .map(|m| m.id)
                    .collect();
                stores.insert(i, ids);
            }
        }
        let observed = Observed {
            start,
            nodes: self.nodes.len(),
            payload_bytes: self.scenario.traffic.size,
            sent: std::mem::take(&mut *lock(&self.sent)),
            deliveries: std::mem::take(&mut *lock(&self.deliveries)),
            stores,
            disruptions: std::mem::take(&mut self.disruptions),
            wire_bytes,
            connections,
            gossip: crate::analysis::gossip_counts(&stats_before, &stats_after),
            running: self.nodes.iter().filter(|n| n.node.is_some()).count(),
            rss_bytes: rss,
            cpu_seconds: cpu,
            wall,
        };
        self.stop_all().await;
        Ok(observed)
    }

    /// Sends message `seq` from `sender`, or from the next running member if it is away.
    fn send(&self, group: GroupId, sender: usize, seq: usize) -> Option<JoinHandle<()>> {
        let n = self.nodes.len();
        let sender = (0..n)
            .map(|k| (sender + k) % n)
            .find(|i| self.nodes[*i].member && self.nodes[*i].node.is_some())?;
        let node = self.nodes[sender].node.clone()?;
        let live: Vec<bool> = (0..n).map(|i| self.reachable(sender, i)).collect();
        let mut text = format!("m{seq:06} ");
        text.extend(std::iter::repeat_n(
            'x',
            self.scenario.traffic.size.saturating_sub(text.len()),
        ));
        text.truncate(self.scenario.traffic.size);
        let sent = self.sent.clone();
        Some(tokio::spawn(async move {
            let at = Instant::now();
            match node.send(group, &text, None).await {
                Ok(id) => lock(&sent).push(Sent {
                    id: id.to_string(),
                    sender,
                    seq,
                    at,
                    live,
                }),
                Err(e) => tracing::warn!(sender, seq, error = %e, "send failed"),
            }
        }))
    }

    /// Whether `to` can receive a gossip from `from` right now.
    fn reachable(&self, from: usize, to: usize) -> bool {
        let n = &self.nodes[to];
        let same_side = self.sides.as_ref().is_none_or(|s| s.get(from) == s.get(to));
        to != from && n.member && n.node.is_some() && same_side
    }

    async fn apply(&mut self, action: &Action) -> anyhow::Result<()> {
        let now = Instant::now();
        let n = self.nodes.len();
        match action {
            Action::Partition { sides } => {
                let sides: Vec<u32> = (0..n).map(|i| (i * *sides as usize / n) as u32).collect();
                if let Some(net) = &self.net {
                    net.partition(sides.clone());
                }
                self.sides = Some(sides);
                self.disruptions
                    .push(Disruption::interrupts("partition", now, None));
            }
            Action::Heal => {
                if let Some(net) = &self.net {
                    net.heal();
                }
                self.sides = None;
                self.disruptions.push(Disruption::all("heal", now));
            }
            Action::Stop { nodes } => {
                for &i in nodes {
                    if let Some(node) = self.nodes[i].node.take() {
                        node.shutdown().await?;
                    }
                }
                self.disruptions
                    .push(Disruption::interrupts("stop", now, Some(nodes)));
            }
            Action::Start { nodes } => {
                for &i in nodes {
                    if self.nodes[i].node.is_none() {
                        let (node, events) = self.restart(i).await?;
                        self.nodes[i].node = Some(node);
                        self.record(i, events);
                    }
                }
                self.disruptions
                    .push(Disruption::nodes("restart", now, nodes));
            }
            Action::Join { nodes } => {
                for &i in nodes {
                    if !self.nodes[i].member {
                        self.node(i)?.join(&self.invite).await?;
                        self.nodes[i].member = true;
                    }
                }
                self.disruptions
                    .push(Disruption::nodes("late join", now, nodes));
            }
        }
        Ok(())
    }

    /// Starts a stopped node again on its old store, waiting for its old listener to close.
    async fn restart(
        &self,
        i: usize,
    ) -> anyhow::Result<(Node, tokio::sync::broadcast::Receiver<NodeEvent>)> {
        let mut last = None;
        for _ in 0..50 {
            match Node::start_subscribed(self.nodes[i].config.clone()).await {
                Ok(started) => return Ok(started),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!("restarting node {i}: {last:?}"))
    }

    /// Waits until every member holds every sent message, or `settle_s` after the end.
    async fn settle(&self) -> anyhow::Result<()> {
        if let Some(p) = &self.progress {
            p.set_message("settling");
        }
        let deadline = Instant::now() + Duration::from_secs_f64(self.scenario.settle_s);
        while Instant::now() < deadline {
            if self.all_delivered() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn all_delivered(&self) -> bool {
        let sent = lock(&self.sent);
        let deliveries = lock(&self.deliveries);
        let members: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].member && self.nodes[*i].node.is_some())
            .collect();
        sent.iter().all(|s| {
            deliveries
                .get(&s.id)
                .is_some_and(|d| members.iter().all(|i| *i == s.sender || d.contains_key(i)))
        })
    }

    /// Stops every node and its recorder.
    pub(crate) async fn stop_all(&mut self) {
        for n in &mut self.nodes {
            if let Some(node) = n.node.take() {
                let _ = node.shutdown().await;
            }
            if let Some(r) = n.recorder.take() {
                r.abort();
            }
        }
    }
}
