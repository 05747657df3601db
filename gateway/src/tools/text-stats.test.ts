import { describe, expect, it } from 'vitest';
import { textStats } from './text-stats.js';

describe('textStats', () => {
  it('counts words, sentences, lines and characters', () => {
    const text = 'The cat sat. The dog ran!\nDid the bird fly?';
    expect(textStats({ text, topWords: 0 })).toEqual({
      characters: text.length,
      words: 10,
      sentences: 3,
      lines: 2,
      readingTimeSeconds: 3,
      topWords: [],
    });
  });

  it('reports zeros for empty text', () => {
    expect(textStats({ text: '', topWords: 5 })).toEqual({
      characters: 0,
      words: 0,
      sentences: 0,
      lines: 0,
      readingTimeSeconds: 0,
      topWords: [],
    });
  });

  it('counts whitespace-only text as characters and lines but no words or sentences', () => {
    const r = textStats({ text: '  \n ', topWords: 5 });
    expect(r).toMatchObject({ characters: 4, words: 0, sentences: 0, lines: 2 });
  });

  it('counts text without final punctuation as one sentence', () => {
    expect(textStats({ text: 'no full stop here', topWords: 0 }).sentences).toBe(1);
    expect(textStats({ text: 'Wait... what?! Yes…', topWords: 0 }).sentences).toBe(3);
  });

  it('treats \\n, \\r\\n and \\r as line breaks', () => {
    expect(textStats({ text: 'a\nb\r\nc\rd', topWords: 0 }).lines).toBe(4);
  });

  it('counts an emoji as one character and not as a word', () => {
    const r = textStats({ text: 'hi 😀', topWords: 5 });
    expect(r.characters).toBe(4);
    expect(r.words).toBe(1);
    expect(textStats({ text: '😀😀😀', topWords: 5 }).characters).toBe(3);
  });

  it('counts words in any script, with apostrophes and hyphens inside them', () => {
    const r = textStats({ text: "Don't stop: well-known café, 東京 and 42!", topWords: 10 });
    expect(r.words).toBe(7);
    expect(r.topWords.map((w) => w.word).sort()).toEqual(["42", 'and', 'café', "don't", 'stop', 'well-known', '東京'].sort());
  });

  it('lists the most frequent words, case-insensitively, most frequent first', () => {
    const r = textStats({ text: 'b a B c b A', topWords: 2 });
    expect(r.topWords).toEqual([
      { word: 'b', count: 3 },
      { word: 'a', count: 2 },
    ]);
  });

  it('breaks ties alphabetically', () => {
    const r = textStats({ text: 'pear apple fig apple pear fig', topWords: 5 });
    expect(r.topWords).toEqual([
      { word: 'apple', count: 2 },
      { word: 'fig', count: 2 },
      { word: 'pear', count: 2 },
    ]);
  });

  it('returns fewer top words than asked when the text has fewer', () => {
    expect(textStats({ text: 'one two', topWords: 50 }).topWords).toHaveLength(2);
  });

  it('estimates reading time at 238 words per minute, rounding up', () => {
    expect(textStats({ text: 'word '.repeat(238), topWords: 0 }).readingTimeSeconds).toBe(60);
    expect(textStats({ text: 'word '.repeat(239), topWords: 0 }).readingTimeSeconds).toBe(61);
    expect(textStats({ text: 'word', topWords: 0 }).readingTimeSeconds).toBe(1);
  });

  it('counts an emoji made of several code points as one character', () => {
    expect(textStats({ text: '👨‍👩‍👧🇫🇷', topWords: 0 }).characters).toBe(2);
  });

  it('does not count a trailing newline as an extra line', () => {
    expect(textStats({ text: 'a\nb\n', topWords: 0 }).lines).toBe(2);
    expect(textStats({ text: 'a\r\nb', topWords: 0 }).lines).toBe(2);
    expect(textStats({ text: '\n', topWords: 0 }).lines).toBe(1);
  });
});
