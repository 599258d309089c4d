export { dist, REPO_ROOT } from '@netloom/simhosts';
