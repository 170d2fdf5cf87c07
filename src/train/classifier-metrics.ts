/**
 * Scores for the classifier tasks: ROC-AUC of a binary score, and the accuracy of a score
 * thresholded where validation data puts the threshold (the cosine baseline of `match`).
 */

/** Area under the ROC curve: the chance a random positive outscores a random negative (ties count half). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] !== 1) continue;
      positives++;
      rankSum += midRank;
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The threshold t maximising the accuracy of "score >= t means label 1" on these examples. */
export function bestThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort(
    (a, b) => (scores[a] as number) - (scores[b] as number),
  );
  // Threshold below everything: every example called positive.
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === 1) correct++;
  let best = { correct, threshold: -Infinity };
  for (let i = 0; i < order.length; i++) {
    correct += labels[order[i]!] === 1 ? -1 : 1;
    const next = order[i + 1];
    // Only between distinct scores: a threshold cannot split tied examples.
    if (next !== undefined && scores[next] === scores[order[i]!]) continue;
    const threshold =
      next === undefined ? Infinity : ((scores[order[i]!] as number) + (scores[next] as number)) / 2;
    if (correct > best.correct) best = { correct, threshold };
  }
  return best.threshold;
}

export function thresholdAccuracy(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): number {
  let correct = 0;
  for (let i = 0; i < scores.length; i++)
    if (((scores[i] as number) >= threshold ? 1 : 0) === labels[i]) correct++;
  return correct / Math.max(1, scores.length);
}
