import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'models/**', 'bench/**/*.js', 'test/fixtures/**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', {
        paths: [{
          name: '@tensorflow/tfjs',
          message: "import TensorFlow.js from src/tf.ts (`import * as tf from '../tf.js'`): the package depends on tfjs-core, -layers, -converter and the backends, not on the all-in-one @tensorflow/tfjs",
        }],
      }],
      'no-restricted-properties': ['error',
        { object: 'it', property: 'only' }, { object: 'describe', property: 'only' }, { object: 'test', property: 'only' }],
    },
  },
);
