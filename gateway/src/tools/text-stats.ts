import type { ToolInput, ToolOutput } from '../../../core/tools/define.js';
import type { textStatsTool } from '../../../core/tools/text-stats.tool.js';

type Input = ToolInput<typeof textStatsTool>;
type Output = ToolOutput<typeof textStatsTool>;

const WORDS_PER_MINUTE = 238; // average silent reading speed for English prose
const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu;
const GRAPHEMES = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Counts and reading time of a text; linear in its length. */
export function textStats({ text, topWords }: Input): Output {
  const words = text.match(WORD) ?? [];
  const frequencies = new Map<string, number>();
  for (const w of words) {
    const key = w.toLowerCase();
    frequencies.set(key, (frequencies.get(key) ?? 0) + 1);
  }
  const top = [...frequencies.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, topWords)
    .map(([word, count]) => ({ word, count }));
  const trimmed = text.trim();
  return {
    characters: countGraphemes(text),
    words: words.length,
    sentences: trimmed === '' ? 0 : (trimmed.match(/[.!?…]+(?=\s|$)/gu)?.length ?? 0) || 1,
    lines: countLines(text),
    readingTimeSeconds: Math.ceil((words.length / WORDS_PER_MINUTE) * 60),
    topWords: top,
  };
}

/** User-perceived characters: an emoji made of several code points (👨‍👩‍👧, 🇫🇷) is one. */
function countGraphemes(text: string): number {
  let n = 0;
  for (const _ of GRAPHEMES.segment(text)) n++;
  return n;
}

/** Lines as an editor counts them: a trailing newline ends the last line, it does not start one. */
function countLines(text: string): number {
  if (text === '') return 0;
  const breaks = text.match(/\r\n|\r|\n/g)?.length ?? 0;
  return /(\r\n|\r|\n)$/.test(text) ? breaks : breaks + 1;
}
